package demo

import (
	"slices"

	"cshub/internal/hub"
)

// members lists the national CERTs of the 29 allied states of 2019, by English country name.
// The names are each nation's own name for its national or governmental CERT/CSIRT as of
// 2018-2019; where that was not certain, a neutral "National CERT of ..." is used instead.
var members = []struct{ code, name, country string }{
	{"cert-al", "AKCESK (Albania)", "AL"},
	{"cert-be", "CCB/CERT.be (Belgium)", "BE"},
	{"cert-bg", "CERT Bulgaria (Bulgaria)", "BG"},
	{"cert-ca", "CCCS (Canada)", "CA"},
	{"cert-hr", "CERT.hr (Croatia)", "HR"},
	{"cert-cz", "GovCERT.CZ (Czech Republic)", "CZ"},
	{"cert-dk", "CFCS (Denmark)", "DK"},
	{"cert-ee", "CERT-EE (Estonia)", "EE"},
	{"cert-fr", "CERT-FR (France)", "FR"},
	{"cert-de", "CERT-Bund (Germany)", "DE"},
	{"cert-gr", "National CERT of Greece", "GR"},
	{"cert-hu", "National CERT of Hungary", "HU"},
	{"cert-is", "CERT-IS (Iceland)", "IS"},
	{"cert-it", "National CERT of Italy", "IT"},
	{"cert-lv", "CERT.LV (Latvia)", "LV"},
	{"cert-lt", "CERT-LT (Lithuania)", "LT"},
	{"cert-lu", "GOVCERT.LU (Luxembourg)", "LU"},
	{"cert-me", "CIRT.ME (Montenegro)", "ME"},
	{"cert-nl", "NCSC-NL (Netherlands)", "NL"},
	{"cert-no", "NorCERT (Norway)", "NO"},
	{"cert-pl", "CERT Polska (Poland)", "PL"},
	{"cert-pt", "CERT.PT (Portugal)", "PT"},
	{"cert-ro", "CERT-RO (Romania)", "RO"},
	{"cert-sk", "SK-CERT (Slovakia)", "SK"},
	{"cert-si", "SI-CERT (Slovenia)", "SI"},
	{"cert-es", "CCN-CERT (Spain)", "ES"},
	{"cert-tr", "USOM/TR-CERT (Turkey)", "TR"},
	{"cert-uk", "NCSC-UK (United Kingdom)", "GB"},
	{"cert-us", "CISA/US-CERT (United States)", "US"},
}

// Orgs returns the demo's organisations: the hub operator first (code Operator, country BE, as
// the alliance agency that runs the hub is based in Brussels and Mons), then the national CERTs
// of the 29 allied states of 2019 as hub.OrgMember, ordered by country name. Member codes are
// "cert-" and the lower-case ISO 3166-1 alpha-2 code, except the United Kingdom's, "cert-uk"
// (country GB). Only the operator and the ActiveMembers are active; the others wait to join.
// Created is left zero for whoever stores them to set. Each call returns a new slice.
func Orgs() []hub.Org {
	active := ActiveMembers()
	orgs := make([]hub.Org, 0, 1+len(members))
	orgs = append(orgs, hub.Org{
		Code:    Operator,
		Name:    "Hub operator",
		Country: "BE",
		Kind:    hub.OrgOperator,
		Active:  true,
	})
	for _, m := range members {
		orgs = append(orgs, hub.Org{
			Code:    m.code,
			Name:    m.name,
			Country: m.country,
			Kind:    hub.OrgMember,
			Active:  slices.Contains(active, m.code),
		})
	}
	return orgs
}
