package search_test

import (
	"context"
	"fmt"
	"time"

	"cshub/internal/hub"
	"cshub/internal/search"
)

func ExampleIndex_Search() {
	x := search.New()
	modified := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	x.Add(&hub.Object{Seq: 1, ID: "intrusion-set--1", Type: "intrusion-set", Workspace: "community", Author: "cert-fr",
		TLP: hub.TLPGreen, Modified: modified, Body: []byte(`{"name":"APT28","aliases":["Fancy Bear","Sofacy"]}`)})
	x.Add(&hub.Object{Seq: 2, ID: "indicator--2", Type: "indicator", Workspace: "community", Author: "cert-nl",
		TLP: hub.TLPRed, Recipients: []string{"cert-be"}, Modified: modified,
		Body: []byte(`{"name":"Fancy Bear phishing","pattern":"[domain-name:value = 'login-ministry.example']"}`)})

	// cert-fr may see the community workspace, but not cert-nl's RED indicator for cert-be.
	v := hub.Viewer{Org: "cert-fr", Workspaces: []string{"community"}}
	res, err := x.Search(context.Background(), v, "fancy bear", 10, "")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, h := range res.Hits {
		fmt.Println(h.ID, h.Highlights)
	}
	fmt.Println("total", res.Total)

	_, err = x.Search(context.Background(), v, `"fancy bear`, 10, "")
	fmt.Println(err)
	// Output:
	// intrusion-set--1 [«Fancy Bear»]
	// total 1
	// invalid: q: a phrase opened at byte 0 is not closed with "
}
