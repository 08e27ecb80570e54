package config

import (
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// typeError matches the decoder's "cannot unmarshal string into Go struct
// field Config.policies.imageRewrite.excludeNamespaces of type []string".
var typeError = regexp.MustCompile(`cannot unmarshal (\w+) into Go struct field \w+\.(\S+) of type (\S+)`)

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
