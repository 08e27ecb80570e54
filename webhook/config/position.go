package config

import (
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// typeError matches the decoder's "cannot unmarshal string into Go struct
// field Config.policies.imageRewrite.excludeNamespaces of type []string", and
// "cannot unmarshal array into Go value of type config.Config" (m[2] empty).
var typeError = regexp.MustCompile(`cannot unmarshal (\w+) into Go (?:struct field \w+\.(\S+)|value) of type (\S+)`)

// jsonPath drops from a decoder's field path the Go names of embedded
// structs ("policies.imageRewrite.ImageConfig.registry"): the file's field
// names are all lowerCamel JSON names, Go field names are capitalized.
func jsonPath(goPath string) string {
	var segs []string
	for _, s := range strings.Split(goPath, ".") {
		if s != "" && s[0] >= 'A' && s[0] <= 'Z' {
			continue
		}
		segs = append(segs, s)
	}
	return strings.Join(segs, ".")
}

// yamlLine matches the line yaml.v3 puts in syntax errors ("yaml: line 3: ...").
var yamlLine = regexp.MustCompile(`^line (\d+): `)

// syntaxError words a YAML syntax error as "name:3: what is wrong".
func syntaxError(name string, err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		return name + ":" + m[1] + ": " + msg[len(m[0]):]
	}
	return name + ": " + msg
}

// duplicateKeys returns a `name:line: duplicate field "path"` message for each
// mapping key that appears a second time, at the line of the repeat.
func duplicateKeys(name string, root *yaml.Node) []string {
	var out []string
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", path, i))
			}
		case yaml.MappingNode:
			seen := map[string]bool{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				key := n.Content[i]
				p := key.Value
				if path != "" {
					p = path + "." + key.Value
				}
				if seen[key.Value] {
					out = append(out, fmt.Sprintf("%s:%d: duplicate field %q", name, key.Line, p))
				}
				seen[key.Value] = true
				walk(n.Content[i+1], p)
			}
		}
	}
	walk(root, "")
	return out
}

// unknownFieldPath takes the path out of `unknown field "policies.foo"`.
var unknownField = regexp.MustCompile(`unknown field "([^"]+)"`)

func unknownFieldPath(msg string) string {
	if m := unknownField.FindStringSubmatch(msg); m != nil {
		return m[1]
	}
	return ""
}

// goTypeWords says a Go type the way a YAML author thinks of it.
func goTypeWords(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "a mapping"
	case strings.HasPrefix(t, "config.") || strings.HasPrefix(t, "policies."):
		return "a mapping"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint"):
		return "a number"
	}
	return "a string"
}

// at names a position in the file: "name:line" for the YAML node at the
// dotted field path (list indexes as "[i]"), or the deepest parent found.
func at(name string, root *yaml.Node, path string) string {
	if line := lineOf(root, path); line > 0 {
		return fmt.Sprintf("%s:%d", name, line)
	}
	return name
}

var segment = regexp.MustCompile(`[^.\[\]]+|\[\d+\]`)

func lineOf(root *yaml.Node, path string) int {
	if root == nil || len(root.Content) == 0 {
		return 0
	}
	n := root.Content[0]
	line := n.Line
	for _, seg := range segment.FindAllString(path, -1) {
		switch {
		case n.Kind == yaml.MappingNode:
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == seg {
					line = n.Content[i].Line
					next = n.Content[i+1]
					break
				}
			}
			if next == nil {
				return line
			}
			n = next
		case n.Kind == yaml.SequenceNode && strings.HasPrefix(seg, "["):
			var i int
			fmt.Sscanf(seg, "[%d]", &i)
			if i >= len(n.Content) {
				return line
			}
			n = n.Content[i]
			line = n.Line
		default:
			return line
		}
	}
	return line
}
