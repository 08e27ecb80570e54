package policies

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validateRules checks prefixes, the pull-through cache rules. Any registry:
// hosts as image references normalize them and repository paths. An ECR
// registry: what CreatePullThroughCacheRule accepts (see pull_through.go), so a
// config that cannot be created in AWS stops the process instead of
// admitting pods that will never pull.
func (c ImageConfig) validateRules(path *field.Path) field.ErrorList {
	var errs field.ErrorList
	_, _, _, ecr := ECRRegistry(c.Registry)
	prefixesPath := path.Child("prefixes")
	if ecr && len(c.Prefixes) > ecrMaxRules {
		errs = append(errs, field.TooMany(prefixesPath, len(c.Prefixes), ecrMaxRules))
	}
	owners := map[string]string{} // prefix -> the first upstream (sorted) that has it
	for _, host := range slices.Sorted(maps.Keys(c.Prefixes)) {
		keyPath := prefixesPath.Key(host)
		if err := validateImageUpstreamHost(keyPath, host); err != nil {
			errs = append(errs, err)
			continue
		}
		upstream, supported := PullThroughUpstreamOf(host)
		if ecr && !supported {
			errs = append(errs, field.Invalid(keyPath, host, fmt.Sprintf(
				"ECR pull-through cache has no rule for this upstream (supported: %s); list it in excludeRegistries, or set unlistedRegistries", supportedUpstreams)))
			continue
		}
		prefix := c.Prefixes[host]
		switch {
		case prefix == "":
			errs = append(errs, field.Required(keyPath, ""))
			continue
		case ecr:
			if err := validateECRPrefix(keyPath, prefix, upstream); err != nil {
				errs = append(errs, err)
				continue
			}
		case !imageRepositoryPrefixRegexp.MatchString(prefix):
			errs = append(errs, field.Invalid(keyPath, prefix,
				`must be a lower-case repository path such as "docker-hub" or "mirror/docker-hub"`))
			continue
		}
		normal := strings.TrimSuffix(prefix, "/")
		if other, dup := owners[normal]; dup {
			errs = append(errs, field.Invalid(keyPath, prefix, fmt.Sprintf("is also the prefix of %q: each rule needs a prefix of its own", other)))
			continue
		}
		owners[normal] = host
	}
	return errs
}

// validateECRPrefix checks an ecrRepositoryPrefix as CreatePullThroughCacheRule does.
func validateECRPrefix(p *field.Path, prefix string, upstream PullThroughUpstream) *field.Error {
	switch {
	case prefix == ecrRootPrefix && upstream.Kind != "ecr":
		return field.Invalid(p, prefix, "ROOT is a prefix only for an upstream ECR registry")
	case len(prefix) < ecrPrefixMinLen || len(prefix) > ecrPrefixMaxLen:
		return field.Invalid(p, prefix, fmt.Sprintf("must be %d to %d characters long (ECR's ecrRepositoryPrefix)", ecrPrefixMinLen, ecrPrefixMaxLen))
	case !ecrRepositoryPrefixPattern.MatchString(prefix):
		return field.Invalid(p, prefix, `must be a lower-case repository path such as "docker-hub" or "mirror/docker-hub"`)
	}
	return nil
}

// validateAliases checks that each alias is a host that is not itself an
// upstream with a rule, and points at one that has.
func (c ImageConfig) validateAliases(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, alias := range slices.Sorted(maps.Keys(c.Aliases)) {
		keyPath := p.Key(alias)
		upstream := c.Aliases[alias]
		switch err := validateImageUpstreamHost(keyPath, alias); {
		case err != nil:
			errs = append(errs, err)
		case c.Prefixes[alias] != "":
			errs = append(errs, field.Invalid(keyPath, alias, "has a rule in prefixes itself: an alias is another name of an upstream with a rule"))
		case c.Prefixes[upstream] == "":
			errs = append(errs, field.Invalid(keyPath, upstream, fmt.Sprintf("must be an upstream with a rule in prefixes (%s)", quoteAll(slices.Sorted(maps.Keys(c.Prefixes))))))
		}
	}
	return errs
}

// validatePushed checks the pushed prefixes: repository paths, each once, none
// a rule's prefix (ECR would send its pulls to the upstream).
func (c ImageConfig) validatePushed(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	rules := map[string]string{}
	for host, prefix := range c.Prefixes {
		rules[strings.TrimSuffix(prefix, "/")] = host
	}
	seen := map[string]bool{}
	for i, prefix := range c.Pushed {
		ip := p.Index(i)
		normal := strings.TrimSuffix(prefix, "/")
		switch {
		case !imageRepositoryPrefixRegexp.MatchString(normal):
			errs = append(errs, field.Invalid(ip, prefix, `must be a lower-case repository path such as "apps" or "team-a/apps"`))
		case rules[normal] != "":
			errs = append(errs, field.Invalid(ip, prefix, fmt.Sprintf("is the prefix of the pull-through cache rule for %q", rules[normal])))
		case seen[normal]:
			errs = append(errs, field.Duplicate(ip, prefix))
		}
		seen[normal] = true
	}
	return errs
}
