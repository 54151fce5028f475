package news_test

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"testing"

	"cshub/internal/news"
)

// BenchmarkParse measures Parse on a 1 MB RSS feed of HTML items beside encoding/xml decoding
// the same document into empty structure, its baseline.
func BenchmarkParse(b *testing.B) {
	var doc bytes.Buffer
	doc.WriteString(`<?xml version="1.0"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>t</title>`)
	for i := 0; doc.Len() < 1<<20; i++ {
		fmt.Fprintf(&doc, `<item><title>Advisory %d</title><link>https://cert.example.org/a/%d</link><guid>a-%d</guid><pubDate>Mon, 10 Dec 2018 14:02:00 +0000</pubDate>`+
			`<content:encoded><![CDATA[<p>Seedworm used <strong>LaZagne</strong> against telecoms in Pakistan.</p><ul><li>C2: hxxp://c2-%d.example[.]net/api</li></ul>]]></content:encoded></item>`, i, i, i, i)
	}
	doc.WriteString("</channel></rss>")
	b.Run("xml-baseline", func(b *testing.B) {
		b.SetBytes(int64(doc.Len()))
		for b.Loop() {
			var v struct{}
			if err := xml.NewDecoder(bytes.NewReader(doc.Bytes())).Decode(&v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parse", func(b *testing.B) {
		b.SetBytes(int64(doc.Len()))
		for b.Loop() {
			if _, err := news.Parse(bytes.NewReader(doc.Bytes())); err != nil {
				b.Fatal(err)
			}
		}
	})
}
