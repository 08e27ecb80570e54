package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/flux-infra/platform-webhook/policies"
	"github.com/flux-infra/platform-webhook/webhook/config"
)

// Exit codes of pull-through-rules: a contract for scripts.
const (
	rulesOK      = 0
	rulesMissing = 1 // --check: a declared rule is missing or points elsewhere
	rulesUsage   = 2 // bad usage, bad config, unreadable --check input
)

// pullThroughRulesCmd prints the ECR pull-through cache rules the config
// declares, or checks them against `aws ecr describe-pull-through-cache-rules`.
func pullThroughRulesCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("pull-through-rules", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file (default: the embedded default)")
	output := fs.StringP("output", "o", "aws", "output: aws (CLI commands), terraform or json")
	check := fs.String("check", "", "check the JSON of `aws ecr describe-pull-through-cache-rules` in FILE (- for standard input) instead of printing")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: platform-webhook pull-through-rules [--config FILE] [-o aws|terraform|json] [--check FILE|-]")
		fmt.Fprintln(stderr, "Prints the ECR pull-through cache rules that imageRewrite.prefixes declares, or checks that AWS has them.")
		fmt.Fprintln(stderr, "Exit status: 0 printed, or every rule exists; 1 a rule is missing or points at another upstream; 2 bad usage, bad config or input.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return rulesOK
		}
		fmt.Fprintf(stderr, "pull-through-rules: %s\n", err)
		return rulesUsage
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "pull-through-rules: "+format+"\n", a...)
		return rulesUsage
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q", fs.Arg(0))
	}
	if !slices.Contains([]string{"aws", "terraform", "json"}, *output) {
		return fail("--output must be aws, terraform or json (found %q)", *output)
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		return fail("%s", err)
	}
	images := cfg.Policies.ImageRewrite.ImageConfig
	account, region, partition, ok := policies.ECRRegistry(images.Registry)
	if !ok {
		return fail("policies.imageRewrite.registry %q is not an ECR registry (<account>.dkr.ecr.<region>.amazonaws.com): pull-through cache rules are ECR's", images.Registry)
	}
	rules := declaredRules(images.PullThroughRules(), account, region, partition)

	if *check != "" {
		return checkRules(rules, *check, stdin, stdout, stderr)
	}
	switch *output {
	case "aws":
		for _, r := range rules {
			fmt.Fprintln(stdout, r.awsCommand())
		}
	case "terraform":
		writeTerraform(stdout, rules, images.Registry, region)
	case "json":
		out := describeOutput{Rules: []describedRule{}}
		for _, r := range rules {
			out.Rules = append(out.Rules, describedRule{Prefix: r.Prefix, URL: r.URL, Upstream: r.Kind,
				CredentialArn: r.credentialArn, CustomRoleArn: r.roleArn, RegistryID: account})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "    ")
		_ = enc.Encode(out)
	}
	return rulesOK
}

// rule is a declared rule with the ARNs it needs, for region.
type rule struct {
	policies.PullThroughRule
	region string
	// credentialArn is the Secrets Manager secret's ARN without the random
	// suffix Secrets Manager adds: its name, for ops to complete.
	credentialArn string
	// roleArn is the IAM role an ECR upstream needs, for ops to create.
	roleArn string
}

func declaredRules(declared []policies.PullThroughRule, account, region, partition string) []rule {
	rules := make([]rule, 0, len(declared))
	for _, d := range declared {
		r := rule{PullThroughRule: d, region: region}
		name := strings.TrimSuffix(d.Prefix, "/")
		switch d.Credential {
		case policies.CredentialSecret:
			// ECR requires the secret's name to start with ecr-pullthroughcache/.
			r.credentialArn = fmt.Sprintf("arn:%s:secretsmanager:%s:%s:secret:ecr-pullthroughcache/%s", partition, region, account, name)
		case policies.CredentialRole:
			r.roleArn = fmt.Sprintf("arn:%s:iam::%s:role/ecr-pullthroughcache-%s", partition, account, strings.ReplaceAll(name, "/", "-"))
		}
		rules = append(rules, r)
	}
	return rules
}

func (r rule) awsCommand() string {
	cmd := fmt.Sprintf("aws ecr create-pull-through-cache-rule --ecr-repository-prefix %s --upstream-registry-url %s --region %s", r.Prefix, r.URL, r.region)
	if r.credentialArn != "" {
		cmd += " --credential-arn " + r.credentialArn
	}
	if r.roleArn != "" {
		cmd += " --custom-role-arn " + r.roleArn
	}
	return cmd
}

var terraformNameUnsafe = regexp.MustCompile(`[^a-zA-Z0-9_]+`)

func writeTerraform(w io.Writer, rules []rule, registry, region string) {
	fmt.Fprintf(w, "# The pull-through cache rules of %s (the provider's region must be %s).\n", registry, region)
	fmt.Fprintln(w, "# Secrets Manager adds a random suffix to a secret's ARN: complete credential_arn from the secret.")
	for _, r := range rules {
		fmt.Fprintf(w, "\nresource \"aws_ecr_pull_through_cache_rule\" %q {\n", terraformNameUnsafe.ReplaceAllString(strings.TrimSuffix(r.Prefix, "/"), "_"))
		fmt.Fprintf(w, "  ecr_repository_prefix = %q\n", r.Prefix)
		fmt.Fprintf(w, "  upstream_registry_url = %q\n", r.URL)
		if r.credentialArn != "" {
			fmt.Fprintf(w, "  credential_arn        = %q\n", r.credentialArn)
		}
		if r.roleArn != "" {
			fmt.Fprintf(w, "  custom_role_arn       = %q\n", r.roleArn)
		}
		fmt.Fprintln(w, "}")
	}
}

// describeOutput is the JSON of `aws ecr describe-pull-through-cache-rules`
// (DescribePullThroughCacheRulesOutput and types.PullThroughCacheRule in
// github.com/aws/aws-sdk-go-v2/service/ecr), the fields this command reads
// and writes.
type describeOutput struct {
	Rules []describedRule `json:"pullThroughCacheRules"`
}

type describedRule struct {
	Prefix        string `json:"ecrRepositoryPrefix"`
	URL           string `json:"upstreamRegistryUrl"`
	Upstream      string `json:"upstreamRegistry,omitempty"`
	CredentialArn string `json:"credentialArn,omitempty"`
	CustomRoleArn string `json:"customRoleArn,omitempty"`
	RegistryID    string `json:"registryId,omitempty"`
}

// checkRules compares the declared rules with AWS's by prefix and upstream
// URL only (credentials and roles are AWS's business: their ARNs carry a
// suffix the config cannot know).
func checkRules(declared []rule, path string, stdin io.Reader, stdout, stderr io.Writer) int {
	name := path
	var data []byte
	var err error
	if path == "-" {
		name = "<stdin>"
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		fmt.Fprintf(stderr, "pull-through-rules: %s: %s\n", name, err)
		return rulesUsage
	}
	var got describeOutput
	if err := json.Unmarshal(data, &got); err != nil {
		fmt.Fprintf(stderr, "pull-through-rules: %s: not the JSON of aws ecr describe-pull-through-cache-rules: %s\n", name, strings.TrimPrefix(err.Error(), "json: "))
		return rulesUsage
	}
	normal := func(prefix string) string { return strings.TrimSuffix(prefix, "/") }
	inAWS := map[string]describedRule{}
	for _, r := range got.Rules {
		inAWS[normal(r.Prefix)] = r
	}
	code := rulesOK
	declaredPrefixes := map[string]bool{}
	for _, r := range declared {
		declaredPrefixes[normal(r.Prefix)] = true
		aws, ok := inAWS[normal(r.Prefix)]
		switch {
		case !ok:
			fmt.Fprintf(stdout, "missing: rule %q for %q (create it: %s)\n", r.Prefix, r.URL, r.awsCommand())
			code = rulesMissing
		case !strings.EqualFold(aws.URL, r.URL):
			fmt.Fprintf(stdout, "wrong upstream: rule %q points at %q in AWS, the config declares %q for %s\n", r.Prefix, aws.URL, r.URL, r.Upstream)
			code = rulesMissing
		default:
			fmt.Fprintf(stdout, "ok: rule %q for %q\n", r.Prefix, r.URL)
		}
	}
	for _, r := range got.Rules {
		if !declaredPrefixes[normal(r.Prefix)] {
			fmt.Fprintf(stdout, "only in AWS: rule %q for %q (not in the config: its images are not rewritten there)\n", r.Prefix, r.URL)
		}
	}
	return code
}
