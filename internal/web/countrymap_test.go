package web

import "testing"

func TestCountryMapShadesByShareOfTheMostTargeted(t *testing.T) {
	m := newCountryMap([]rankRow{
		{ID: "location--1", Name: "Finland", Extra: "FI", Count: 9},
		{ID: "location--2", Name: "Ukraine", Extra: "ua", Count: 5},
		{ID: "location--3", Name: "Estonia", Extra: "EE", Count: 1},
		{ID: "location--4", Name: "Atlantis", Extra: "XA", Count: 7}, // not on the map: the table has it
	})
	levels := map[string]int{}
	for _, tl := range m.Tiles {
		levels[tl.Code] = tl.Level
		if (tl.ID != "") != (tl.Level > 0) {
			t.Errorf("%s: link %q at level %d", tl.Code, tl.ID, tl.Level)
		}
	}
	for code, want := range map[string]int{"FI": 4, "UA": 2, "EE": 1, "FR": 0} {
		if levels[code] != want {
			t.Errorf("%s at level %d, want %d", code, levels[code], want)
		}
	}
	if _, ok := levels["XA"]; ok || len(m.Tiles) != len(countryTiles) {
		t.Errorf("%d tiles, want the %d of the grid", len(m.Tiles), len(countryTiles))
	}
	if newCountryMap([]rankRow{{Name: "Atlantis", Extra: "XA", Count: 3}}) != nil {
		t.Error("a map with no targeted country on it")
	}
}

func TestCountryTilesDoNotOverlap(t *testing.T) {
	at := map[[2]int]string{}
	for code, pos := range countryTiles {
		if other, ok := at[pos]; ok {
			t.Errorf("%s and %s share the tile at %v", code, other, pos)
		}
		at[pos] = code
	}
}
