package policies

import (
	"regexp"
	"strings"

	"github.com/distribution/reference"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	// imageHostRegexp is a registry host as image references accept it:
	// a DNS name, an IPv4 or a bracketed IPv6 address, optionally with a port.
	imageHostRegexp = regexp.MustCompile(`^(?:` + reference.DomainRegexp.String() + `)$`)

	// imageRepositoryPrefixRegexp is an ECR repository name (and a valid
	// reference path): lower-case components of letters and digits joined by
	// single '.', '_' or '-', separated by '/', no leading or trailing '/'.
	imageRepositoryPrefixRegexp = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$`)
)

// Validate checks the image configuration once at start-up; path is where it
// sits in the configuration file (policies.imageRewrite). Errors name the
// field: "policies.imageRewrite.registry: Required value".
func (c ImageConfig) Validate(path *field.Path) field.ErrorList {
	var errs field.ErrorList

	if c.Registry == "" {
		errs = append(errs, field.Required(path.Child("registry"), ""))
	} else if err := validateImageRegistryHost(path.Child("registry"), c.Registry); err != nil {
		errs = append(errs, err)
	}

	errs = append(errs, c.validateRules(path)...)
	errs = append(errs, c.validateAliases(path.Child("aliases"))...)
	errs = append(errs, c.validatePushed(path.Child("pushed"))...)
	switch c.UnlistedRegistries {
	case "", UnlistedDeny, UnlistedDirect, UnlistedHostPrefix:
	default:
		errs = append(errs, field.NotSupported(path.Child("unlistedRegistries"), c.UnlistedRegistries,
			[]UnlistedRegistries{UnlistedDeny, UnlistedDirect, UnlistedHostPrefix}))
	}

	seenNamespaces := map[string]bool{}
	for i, ns := range c.ExcludeNamespaces {
		p := path.Child("excludeNamespaces").Index(i)
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p, ns, strings.Join(msgs, "; ")))
		} else if seenNamespaces[ns] {
			errs = append(errs, field.Duplicate(p, ns))
		}
		seenNamespaces[ns] = true
	}

	seenRegistries := map[string]bool{}
	for i, host := range c.ExcludeRegistries {
		p := path.Child("excludeRegistries").Index(i)
		if err := validateImageUpstreamHost(p, host); err != nil {
			errs = append(errs, err)
		} else if seenRegistries[host] {
			errs = append(errs, field.Duplicate(p, host))
		}
		seenRegistries[host] = true
	}
	return errs
}

// validateImageRegistryHost checks that host is a bare registry host name,
// optionally with a port: no scheme, no path, no tag, lower case, and read as
// a host (not as a repository path) by image references.
func validateImageRegistryHost(p *field.Path, host string) *field.Error {
	switch {
	case host == "":
		return field.Required(p, "")
	case strings.Contains(host, "://"):
		return field.Invalid(p, host, "must be a host name without a scheme")
	case strings.Contains(host, "/"):
		return field.Invalid(p, host, "must be a host name without a path")
	case !imageHostRegexp.MatchString(host):
		return field.Invalid(p, host, "must be a host name, optionally with a port")
	case strings.ToLower(host) != host:
		return field.Invalid(p, host, "must be lower case")
	case host != "localhost" && !strings.ContainsAny(host, ".:"):
		// "mirror/nginx" is the Docker Hub image docker.io/mirror/nginx.
		return field.Invalid(p, host, `must contain a dot or a port, or be "localhost", to be read as a registry host`)
	}
	return nil
}

// validateImageUpstreamHost checks an upstream registry host (a prefixes key,
// an excluded registry): a registry host as image references normalize it.
func validateImageUpstreamHost(p *field.Path, host string) *field.Error {
	if err := validateImageRegistryHost(p, host); err != nil {
		return err
	}
	if host == "index.docker.io" {
		return field.Invalid(p, host, `must be "docker.io": image references normalize "index.docker.io" to "docker.io"`)
	}
	return nil
}
