package manifests

import "testing"

// substitute follows Flux's post-build substitution for the forms the seed
// uses, and fails where Flux would quietly substitute an empty string.
func TestSubstitute(t *testing.T) {
	vars := map[string]string{"A": "alpha", "EMPTY": "", "ACCOUNT": "123456789012"}
	cases := []struct {
		name, in, want, err string
	}{
		{name: "plain", in: "x-${A}-y", want: "x-alpha-y"},
		{name: "two", in: "${ACCOUNT}.dkr.ecr.${A}.amazonaws.com", want: "123456789012.dkr.ecr.alpha.amazonaws.com"},
		{name: "no variables", in: "image: nginx:1.27", want: "image: nginx:1.27"},
		{name: "shell variables are left alone", in: `"$AWS_REGION" $(aws ecr) $1`, want: `"$AWS_REGION" $(aws ecr) $1`},
		{name: "dollar dollar is a literal dollar", in: "$${A} and $$B", want: "${A} and $B"},
		{name: "trailing dollar", in: "cost: 5$", want: "cost: 5$"},
		{name: "default when unset", in: "${MISSING:=d}", want: "d"},
		{name: "default when empty", in: "${EMPTY:-d}", want: "d"},
		{name: "set value wins over default", in: "${A:=d}", want: "alpha"},
		{name: "dash default only when unset", in: "${EMPTY-d}|${MISSING-d}", want: "|d"},
		{name: "equals default only when unset", in: "${EMPTY=d}|${MISSING=d}", want: "|d"},
		{name: "unset", in: "${MISSING}", err: "${MISSING}: variable MISSING is not in external-config-data"},
		{name: "unclosed", in: "${A", err: `"${A": missing closing brace`},
		{name: "substring", in: "${A:1}", err: "${A:1}: only ${NAME}, ${NAME:=default} and ${NAME:-default} are used in the seed"},
		{name: "replacement", in: "${A/a/b}", err: `${A/a/b}: "A/a/b" is not a variable name (letters, digits and _, not starting with a digit)`},
		{name: "bad name", in: "${1A}", err: `${1A}: "1A" is not a variable name (letters, digits and _, not starting with a digit)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			used := map[string]int{}
			got, err := substitute(c.in, vars, used)
			if c.err != "" {
				if err == nil || err.Error() != c.err {
					t.Fatalf("substitute(%q) error = %v, want %q", c.in, err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("substitute(%q): %v", c.in, err)
			}
			if got != c.want {
				t.Errorf("substitute(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
	used := map[string]int{}
	if _, err := substitute("${A} ${A} ${MISSING:=x}", vars, used); err != nil {
		t.Fatal(err)
	}
	if used["A"] != 2 || used["MISSING"] != 1 || len(used) != 2 {
		t.Errorf("used = %v, want A twice and MISSING once", used)
	}
}
