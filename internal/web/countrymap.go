package web

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// The dashboard's map of targeted countries is a tile grid map: one square per country, placed
// roughly where the country lies, so that a wall screen shows at a glance where the allies are
// being targeted without shipping country outlines or a map library. It covers the allied states,
// their neighbours and the countries the hub's reporting most often names; a country outside
// it still has its row in the table beside the map.

// tileSize is the side of a tile in SVG units; tiles sit tileSize+tileGap apart.
const (
	tileSize = 34
	tileGap  = 3
)

// countryTiles places ISO 3166-1 alpha-2 codes on the grid: column, row.
var countryTiles = map[string][2]int{
	"IS": {2, 0}, "NO": {5, 0}, "SE": {6, 0}, "FI": {7, 0},
	"CA": {0, 1}, "IE": {3, 1}, "GB": {4, 1}, "DK": {5, 1}, "EE": {7, 1}, "RU": {9, 1},
	"US": {0, 2}, "NL": {4, 2}, "DE": {5, 2}, "PL": {6, 2}, "LV": {7, 2}, "BY": {8, 2}, "KZ": {10, 2}, "KP": {13, 2},
	"BE": {3, 3}, "LU": {4, 3}, "CZ": {5, 3}, "SK": {6, 3}, "LT": {7, 3}, "UA": {8, 3}, "CN": {12, 3}, "KR": {13, 3}, "JP": {14, 3},
	"FR": {3, 4}, "CH": {4, 4}, "AT": {5, 4}, "HU": {6, 4}, "RO": {7, 4}, "MD": {8, 4}, "GE": {10, 4},
	"PT": {1, 5}, "ES": {2, 5}, "IT": {4, 5}, "SI": {5, 5}, "HR": {6, 5}, "RS": {7, 5}, "BG": {8, 5}, "AM": {10, 5}, "AZ": {11, 5},
	"MT": {4, 6}, "ME": {5, 6}, "AL": {6, 6}, "MK": {7, 6}, "GR": {8, 6}, "TR": {9, 6}, "IR": {11, 6}, "PK": {12, 6},
	"IL": {9, 7}, "SY": {10, 7}, "SA": {10, 8}, "IN": {12, 7}, "AU": {14, 8},
}

// mapTile is one country square of the map.
type mapTile struct {
	X, Y        int
	Code, Title string
	ID          string // the location object to link to; "" for a country nobody targets
	Level       int    // 0 for none, else 1 to 4 by share of the most targeted
}

// countryMap is the tile grid map of rows (targeted locations with their country codes in
// Extra) for the dashboard template.
type countryMap struct {
	Width, Height int
	Tiles         []mapTile
}

// newCountryMap places every country of the grid and shades those rows name by how often they
// are targeted, relative to the most targeted one; nil when no row names a country on the grid.
func newCountryMap(rows []rankRow) *countryMap {
	targeted := map[string]rankRow{}
	most := 0
	for _, r := range rows {
		code := strings.ToUpper(r.Extra)
		if _, ok := countryTiles[code]; ok && r.Count > 0 {
			if _, dup := targeted[code]; !dup {
				targeted[code] = r
				most = max(most, r.Count)
			}
		}
	}
	if len(targeted) == 0 {
		return nil
	}
	m := &countryMap{}
	for code, at := range countryTiles {
		t := mapTile{X: at[0] * (tileSize + tileGap), Y: at[1] * (tileSize + tileGap), Code: code, Title: code}
		if r, ok := targeted[code]; ok {
			t.ID, t.Level = r.ID, 1+3*(r.Count-1)/max(most-1, 1)
			t.Title = r.Name + ": targeted by " + strconv.Itoa(r.Count)
		}
		m.Tiles = append(m.Tiles, t)
		m.Width, m.Height = max(m.Width, t.X+tileSize), max(m.Height, t.Y+tileSize)
	}
	// A stable order keeps the page identical between loads (and tab order sensible: west to
	// east, north to south).
	slices.SortFunc(m.Tiles, func(a, b mapTile) int { return cmp.Or(cmp.Compare(a.Y, b.Y), cmp.Compare(a.X, b.X)) })
	return m
}
