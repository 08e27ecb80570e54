package policies

import (
	"regexp"
	"slices"
	"strings"
)

// What an ECR pull-through cache (PTC) rule can be, as of late 2026. Sources:
//   - the upstream kinds: the ECR API's UpstreamRegistry enum,
//     github.com/aws/aws-sdk-go-v2/service/ecr types/enums.go (UpstreamRegistryEcr ...
//     UpstreamRegistryChainguard), and the upstream URL syntax of each in
//     api_op_CreatePullThroughCacheRule.go (CreatePullThroughCacheRuleInput.UpstreamRegistryUrl);
//   - which need a Secrets Manager secret named "ecr-pullthroughcache/..." (Docker Hub,
//     GitHub, GitLab, Azure, Chainguard) or an IAM role (another ECR registry):
//     the ECR user guide, "Creating a pull through cache rule";
//   - the prefix: CreatePullThroughCacheRuleInput.EcrRepositoryPrefix ("There is always
//     an assumed / applied to the end of the prefix"), 2-30 characters matching
//     ecrRepositoryPrefixPattern (the API reference), ROOT only with an ECR upstream;
//     at most 50 rules per registry (ECR service quotas).
//
// gcr.io / Artifact Registry, mcr.microsoft.com, nvcr.io, docker.elastic.co and
// private registries have no PTC upstream kind.

// PullThroughUpstream is an upstream registry a pull-through cache rule can name.
type PullThroughUpstream struct {
	// Kind is the ECR API's UpstreamRegistry value ("docker-hub", "quay", ...).
	Kind string
	// URL is the rule's upstreamRegistryUrl (registry-1.docker.io for docker.io).
	URL string
	// Credential is what ECR needs to pull from it: "secret" (a Secrets
	// Manager secret ecr-pullthroughcache/...), "role" (an IAM role, for an
	// ECR upstream) or "" (nothing).
	Credential string
}

// Credentials an upstream needs.
const (
	CredentialSecret = "secret"
	CredentialRole   = "role"
)

// pullThroughUpstreams are the upstreams with a fixed host, by the host image
// references name them with.
var pullThroughUpstreams = map[string]PullThroughUpstream{
	"docker.io":           {Kind: "docker-hub", URL: "registry-1.docker.io", Credential: CredentialSecret},
	"public.ecr.aws":      {Kind: "ecr-public", URL: "public.ecr.aws"},
	"quay.io":             {Kind: "quay", URL: "quay.io"},
	"registry.k8s.io":     {Kind: "k8s", URL: "registry.k8s.io"},
	"ghcr.io":             {Kind: "github-container-registry", URL: "ghcr.io", Credential: CredentialSecret},
	"registry.gitlab.com": {Kind: "gitlab-container-registry", URL: "registry.gitlab.com", Credential: CredentialSecret},
	"cgr.dev":             {Kind: "chainguard", URL: "cgr.dev", Credential: CredentialSecret},
}

var (
	// ecrRegistryHostRegexp is a private ECR registry host:
	// <account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn].
	ecrRegistryHostRegexp = regexp.MustCompile(`^([0-9]{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$`)
	// azureRegistryHostRegexp is an Azure Container Registry (a rule per registry).
	azureRegistryHostRegexp = regexp.MustCompile(`^[a-z0-9]{5,50}\.azurecr\.io$`)
	// ecrRepositoryPrefixPattern is CreatePullThroughCacheRule's ecrRepositoryPrefix pattern.
	ecrRepositoryPrefixPattern = regexp.MustCompile(`^((?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*/?|ROOT)$`)
)

// Limits of ecrRepositoryPrefix and of the rules of one registry.
const (
	ecrPrefixMinLen    = 2
	ecrPrefixMaxLen    = 30
	ecrMaxRules        = 50
	ecrRootPrefix      = "ROOT"
	supportedUpstreams = `docker.io, public.ecr.aws, quay.io, registry.k8s.io, ghcr.io, registry.gitlab.com, <name>.azurecr.io, cgr.dev, <account>.dkr.ecr.<region>.amazonaws.com`
)

// PullThroughUpstreamOf returns the pull-through cache upstream that host
// (as image references normalize it) is, and whether PTC supports it.
func PullThroughUpstreamOf(host string) (PullThroughUpstream, bool) {
	if u, ok := pullThroughUpstreams[host]; ok {
		return u, true
	}
	switch {
	case azureRegistryHostRegexp.MatchString(host):
		return PullThroughUpstream{Kind: "azure-container-registry", URL: host, Credential: CredentialSecret}, true
	case ecrRegistryHostRegexp.MatchString(host):
		return PullThroughUpstream{Kind: "ecr", URL: host, Credential: CredentialRole}, true
	}
	return PullThroughUpstream{}, false
}

// ECRRegistry splits a private ECR registry host into its account, region and
// AWS partition ("aws", "aws-cn"); ok is false for any other host.
func ECRRegistry(host string) (account, region, partition string, ok bool) {
	m := ecrRegistryHostRegexp.FindStringSubmatch(host)
	if m == nil {
		return "", "", "", false
	}
	partition = "aws"
	if m[3] != "" {
		partition = "aws-cn"
	}
	return m[1], m[2], partition, true
}

// rulePrefix returns the repository prefix, without a trailing '/', that
// images of host get in the mirror: its rule's, or the rule's of the upstream
// it is an alias of. ROOT is "" (the rule's repositories sit at the root).
func (c ImageConfig) rulePrefix(host string) (prefix, upstream string, ok bool) {
	upstream = host
	prefix, ok = c.Prefixes[host]
	if !ok {
		if upstream, ok = c.Aliases[host]; ok {
			prefix, ok = c.Prefixes[upstream]
		}
	}
	if !ok {
		return "", "", false
	}
	if prefix == ecrRootPrefix {
		return "", upstream, true
	}
	return strings.TrimSuffix(prefix, "/"), upstream, true
}

// mirrorPrefixes are the repository prefixes the mirror serves: the rules'
// and the pushed ones, each ending in '/', sorted; "" when a ROOT rule takes
// every repository.
func (c ImageConfig) mirrorPrefixes() (rules, pushed []string) {
	for _, p := range c.Prefixes {
		if p == ecrRootPrefix {
			rules = append(rules, "")
			continue
		}
		rules = append(rules, strings.TrimSuffix(p, "/")+"/")
	}
	for _, p := range c.Pushed {
		pushed = append(pushed, strings.TrimSuffix(p, "/")+"/")
	}
	slices.Sort(rules)
	slices.Sort(pushed)
	return rules, slices.Compact(pushed)
}

// ruledHosts are the hosts whose images the mirror serves through a rule:
// the rules' upstreams and their aliases, sorted.
func (c ImageConfig) ruledHosts() []string {
	var hosts []string
	for h := range c.Prefixes {
		hosts = append(hosts, h)
	}
	for h, upstream := range c.Aliases {
		if _, ok := c.Prefixes[upstream]; ok {
			hosts = append(hosts, h)
		}
	}
	slices.Sort(hosts)
	return hosts
}

// unlisted returns UnlistedRegistries with its default.
func (c ImageConfig) unlisted() UnlistedRegistries {
	if c.UnlistedRegistries == "" {
		return UnlistedDeny
	}
	return c.UnlistedRegistries
}

// PullThroughRule is one pull-through cache rule the config declares.
type PullThroughRule struct {
	// Upstream is the prefixes key: the upstream's host as images name it.
	Upstream string
	// Prefix is the ecrRepositoryPrefix, as configured.
	Prefix string
	PullThroughUpstream
}

// PullThroughRules returns the rules prefixes declares, sorted by prefix. An
// upstream PTC does not support (a registry that is not ECR) keeps its host
// as URL and an empty Kind.
func (c ImageConfig) PullThroughRules() []PullThroughRule {
	rules := make([]PullThroughRule, 0, len(c.Prefixes))
	for host, prefix := range c.Prefixes {
		u, ok := PullThroughUpstreamOf(host)
		if !ok {
			u = PullThroughUpstream{URL: host}
		}
		rules = append(rules, PullThroughRule{Upstream: host, Prefix: prefix, PullThroughUpstream: u})
	}
	slices.SortFunc(rules, func(a, b PullThroughRule) int { return strings.Compare(a.Prefix, b.Prefix) })
	return rules
}
