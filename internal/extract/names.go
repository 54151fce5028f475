package extract

import (
	"encoding/json"
	"fmt"
	"strings"
)

// stopWords are aliases of threat actors, tools and malware that are ordinary English words (or
// first names, places and brands that prose uses for other things). Such an alias is kept only
// where the text writes it exactly as the source does and as a name: all in capitals when the
// source does ("MERCURY", "ZINC"), or capitalised and not at the start of a sentence
// ("Patchwork", "Strider"); an alias the source writes in lower case ("at", "route") is dropped,
// and so is any lower-case alias of three letters or fewer. Function words are listed too, since
// galaxy synonyms occasionally hold one.
// The list was written by reading every one-word alias of ATT&CK v18.1 and the MISP
// threat-actor galaxy v349; keep it sorted.
var stopWords = setOf(`
agenda anchor apostle armageddon at attrib aurora avenger axiom basin bitter blackjack bumblebee
butterfly calendar cannon carbon cardinal castle chaos chimera cicada cleaver cmd cobalt copper
crimson cuba denis dune disco donut dragonfly elfin embargo empire epic equation expand explosive
flame gorilla helium inception james kevin lead lexus longhorn lucifer machete madi mango mantis
mask maze medusa meteor milan mirage monsoon moonlight mosquito net ninja nitro octopus oxygen
page pandora patchwork photo pickaxe ping pioneer play polaris pony popeye proton reaper reg
responder rover route royal ruler samurai scarab scimitar scorpion sea shark silence skid snake
solar soldier spark strider summit superman tick trident trinity ups venom viper watchdog wiper
wraith
the and for not but you all any can her was one our out day get has him his how new now old see
two way who did its let put say she too use this that with from they will have are
alibaba butterfly callisto calypso cerium chromium gallium gold iridium krypton magnesium
manganese mercury nickel osmium platinum plutonium polonium potassium radium silicon sodium
sulphur tantalum thallium zinc boron yttrium bromine neptunium
`)

func setOf(words string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}

// countryForms are names of countries that ISO 3166 and the MISP country galaxy do not spell
// out, and the short forms that are only taken in capitals and outside shouted text.
var countryForms = []struct {
	form  string
	code  string
	flags uint8
}{
	{"United States", "US", 0}, {"United States of America", "US", 0},
	{"US", "US", fExact | fShout}, {"USA", "US", fExact | fShout}, {"U.S.", "US", fExact}, {"U.S.A.", "US", fExact},
	{"United Kingdom", "GB", 0}, {"Great Britain", "GB", 0}, {"Britain", "GB", 0},
	{"UK", "GB", fExact | fShout}, {"U.K.", "GB", fExact},
	{"Russian Federation", "RU", 0}, {"Türkiye", "TR", 0}, {"TÜRKIYE", "TR", 0}, {"Turkiye", "TR", 0},
	{"the Netherlands", "NL", 0}, {"Holland", "NL", 0},
	{"Republic of Korea", "KR", 0}, {"ROK", "KR", fExact | fShout},
	{"Democratic People's Republic of Korea", "KP", 0}, {"DPRK", "KP", fExact | fShout},
	{"People's Republic of China", "CN", 0}, {"PRC", "CN", fExact | fShout},
	{"Islamic Republic of Iran", "IR", 0}, {"Czech Republic", "CZ", 0},
	{"Viet Nam", "VN", 0}, {"Lao PDR", "LA", 0}, {"Macedonia", "MK", 0}, {"Burma", "MM", 0},
	{"Côte d'Ivoire", "CI", 0}, {"Cote d'Ivoire", "CI", 0}, {"Cape Verde", "CV", 0},
	{"East Timor", "TL", 0}, {"Timor-Leste", "TL", 0}, {"Swaziland", "SZ", 0},
	{"Palestine", "PS", 0}, {"State of Palestine", "PS", 0}, {"Vatican City", "VA", 0}, {"Holy See", "VA", 0},
	{"UAE", "AE", fExact | fShout}, {"Brunei Darussalam", "BN", 0}, {"Bosnia", "BA", 0},
	{"Republic of Moldova", "MD", 0}, {"The Gambia", "GM", 0}, {"DRC", "CD", fExact | fShout},
	{"DR Congo", "CD", 0}, {"Réunion", "RE", 0}, {"Curaçao", "CW", 0}, {"Åland Islands", "AX", 0},
	{"São Tomé and Príncipe", "ST", 0}, {"Saint Barthélemy", "BL", 0},
}

// countryNames are the canonical names of a few countries whose galaxy name is not the one
// reports use.
var countryNames = map[string]string{
	"US": "United States", "GB": "United Kingdom", "PS": "Palestine", "RE": "Réunion",
}

// skippedCountries are galaxy entries that are not countries in ISO 3166-1 today, or whose
// name is a common word in running text.
var skippedCountries = map[string]bool{
	"Serbia and Montenegro": true, "Netherlands Antilles": true, "Reunion": true,
}

// addCountries adds the countries of the embedded MISP country galaxy and countryForms. Every
// country name is taken only when not written all in lower case ("turkey", "chad", "jersey").
func (b *builder) addCountries() {
	var g struct {
		Values []struct {
			Description string `json:"description"`
			Meta        struct {
				ISO string `json:"ISO"`
			} `json:"meta"`
		} `json:"values"`
	}
	raw, err := embedded.ReadFile("testdata/embedded/country.json")
	if err == nil {
		err = json.Unmarshal(raw, &g)
	}
	if err != nil {
		panic(fmt.Sprintf("extract: embedded country.json: %v", err)) // a broken build
	}
	byCode := map[string]int{}
	for _, v := range g.Values {
		name := strings.TrimSpace(v.Description)
		code := strings.ToUpper(v.Meta.ISO)
		if skippedCountries[name] || len(code) != 2 {
			continue
		}
		canon := name
		if n, ok := countryNames[code]; ok {
			canon = n
		}
		ti := b.targetFor(target{kind: KindCountry, value: code, name: canon})
		byCode[code] = ti
		b.add(ti, name, rankBuiltin, fNotLower)
	}
	for _, f := range countryForms {
		ti, ok := byCode[f.code]
		if !ok {
			continue
		}
		b.add(ti, f.form, rankBuiltin, f.flags|fNotLower)
	}
}

// sectorForms map phrases to the STIX 2.1 industry-sector-ov term they denote, after the
// sectors of the MISP sector galaxy. Elections have no term of their own and count as
// government. Phrases the MISP galaxy names but prose uses loosely ("other", "country",
// "development", "intelligence", "media", "mining") are left out
// or taken only in a longer phrase.
var sectorForms = []struct {
	form   string
	sector string
	flags  uint8
}{
	{"telecom", "telecommunications", 0}, {"telecoms", "telecommunications", 0},
	{"telecommunication", "telecommunications", 0}, {"telecommunications", "telecommunications", 0},
	{"telco", "telecommunications", 0}, {"telcos", "telecommunications", 0},
	{"IT services", "technology", fExact}, {"IT service providers", "technology", fExact},
	{"IT firms", "technology", fExact}, {"IT companies", "technology", fExact},
	{"information technology", "technology", 0}, {"technology sector", "technology", 0},
	{"tech sector", "technology", 0}, {"high tech", "technology", 0}, {"semiconductor", "technology", 0},
	{"oil and gas", "energy", 0}, {"oil & gas", "energy", 0}, {"energy", "energy", 0},
	{"energy sector", "energy", 0}, {"petrochemical", "energy", 0}, {"electricity", "energy", 0},
	{"power grid", "energy", 0},
	{"utilities", "utilities", 0}, {"water utilities", "water", 0}, {"nuclear power", "nuclear", 0},
	{"government", "government", 0}, {"governments", "government", 0},
	{"government agencies", "government", 0}, {"public administration", "government", 0},
	{"public sector", "government", 0}, {"ministries", "government", 0},
	{"elections", "government", 0}, {"election", "government", 0}, {"electoral", "government", 0},
	{"embassies", "government", 0},
	{"defence", "defense", 0}, {"defense", "defense", 0}, {"military", "defense", 0},
	{"defence industry", "defense", 0}, {"defense industry", "defense", 0},
	{"defense contractors", "defense", 0}, {"armed forces", "defense", 0},
	{"finance", "financial-services", 0}, {"financial sector", "financial-services", 0},
	{"financial services", "financial-services", 0}, {"banking", "financial-services", 0},
	{"banks", "financial-services", 0}, {"financial institutions", "financial-services", 0},
	{"healthcare", "healthcare", 0}, {"health care", "healthcare", 0}, {"hospitals", "healthcare", 0},
	{"pharmaceutical", "pharmaceuticals", 0}, {"pharmaceuticals", "pharmaceuticals", 0},
	{"education", "education", 0}, {"universities", "education", 0}, {"academia", "education", 0},
	{"higher education", "education", 0},
	{"aerospace", "aerospace", 0}, {"aviation", "transportation", 0}, {"airlines", "transportation", 0},
	{"transportation", "transportation", 0}, {"transport", "transportation", 0},
	{"shipping", "transportation", 0}, {"maritime", "transportation", 0}, {"railway", "transportation", 0},
	{"logistics", "transportation", 0},
	{"automotive", "automotive", 0}, {"chemical industry", "chemical", 0}, {"construction industry", "construction", 0},
	{"manufacturing", "manufacturing", 0}, {"mining industry", "mining", 0}, {"agriculture", "agriculture", 0},
	{"retail", "retail", 0}, {"ecommerce", "retail", 0}, {"e-commerce", "retail", 0},
	{"hospitality", "hospitality-leisure", 0}, {"hotels", "hospitality-leisure", 0},
	{"insurance", "insurance", 0}, {"entertainment", "entertainment", 0},
	{"news media", "communications", 0}, {"media outlets", "communications", 0}, {"journalists", "communications", 0},
	{"NGOs", "non-profit", 0}, {"NGO", "non-profit", fExact}, {"non-profit", "non-profit", 0},
	{"think tanks", "non-profit", 0}, {"critical infrastructure", "infrastructure", 0},
}

// sectorNames are the display names of the STIX industry sectors.
var sectorNames = map[string]string{
	"telecommunications": "Telecommunications", "technology": "Technology", "energy": "Energy",
	"utilities": "Utilities", "water": "Water", "nuclear": "Nuclear", "government": "Government",
	"defense": "Defense", "financial-services": "Financial services", "healthcare": "Healthcare",
	"pharmaceuticals": "Pharmaceuticals", "education": "Education", "aerospace": "Aerospace",
	"transportation": "Transportation", "automotive": "Automotive", "chemical": "Chemical",
	"construction": "Construction", "manufacturing": "Manufacturing", "mining": "Mining",
	"agriculture": "Agriculture", "retail": "Retail", "hospitality-leisure": "Hospitality and leisure",
	"insurance": "Insurance", "entertainment": "Entertainment", "communications": "Communications",
	"non-profit": "Non-profit", "infrastructure": "Infrastructure",
}

// addSectors adds sectorForms. A sector word right after a hyphen is a modifier
// ("cyber-defence", "self-defence", "anti-government"), not a sector.
func (b *builder) addSectors() {
	for _, f := range sectorForms {
		ti := b.targetFor(target{kind: KindSector, value: f.sector, name: sectorNames[f.sector]})
		b.add(ti, f.form, rankBuiltin, f.flags|fNoHyphen)
	}
}
