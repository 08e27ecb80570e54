package main

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
)

func runRules(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := pullThroughRulesCmd(args, strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// consoleRules is a config with the ECR console's prefix names, an Azure
// registry and another ECR registry as upstreams, in the China partition.
const consoleRules = `policies:
  imageRewrite:
    registry: 123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn
    prefixes:
      docker.io: docker-hub
      quay.io: quay
      registry.k8s.io: kubernetes
      myteam.azurecr.io: azure/myteam
      210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn: team/shared
`

func TestPullThroughRulesAWS(t *testing.T) {
	cfg := writeFile(t, t.TempDir(), "config.yaml", consoleRules)
	code, stdout, stderr := runRules(t, "", "--config", cfg)
	want := `aws ecr create-pull-through-cache-rule --ecr-repository-prefix azure/myteam --upstream-registry-url myteam.azurecr.io --region cn-north-1 --credential-arn arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:ecr-pullthroughcache/azure/myteam
aws ecr create-pull-through-cache-rule --ecr-repository-prefix docker-hub --upstream-registry-url registry-1.docker.io --region cn-north-1 --credential-arn arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:ecr-pullthroughcache/docker-hub
aws ecr create-pull-through-cache-rule --ecr-repository-prefix kubernetes --upstream-registry-url registry.k8s.io --region cn-north-1
aws ecr create-pull-through-cache-rule --ecr-repository-prefix quay --upstream-registry-url quay.io --region cn-north-1
aws ecr create-pull-through-cache-rule --ecr-repository-prefix team/shared --upstream-registry-url 210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn --region cn-north-1 --custom-role-arn arn:aws-cn:iam::123456789012:role/ecr-pullthroughcache-team-shared
`
	if code != 0 || stdout != want || stderr != "" {
		t.Errorf("exit %d, stdout:\n%s\nwant:\n%s\nstderr: %s", code, stdout, want, stderr)
	}
}

func TestPullThroughRulesTerraform(t *testing.T) {
	cfg := writeFile(t, t.TempDir(), "config.yaml", `policies:
  imageRewrite:
    registry: 123456789012.dkr.ecr.eu-west-1.amazonaws.com
    prefixes: {docker.io: docker-hub, public.ecr.aws: ecr-public}
`)
	code, stdout, _ := runRules(t, "", "--config", cfg, "-o", "terraform")
	want := `# The pull-through cache rules of 123456789012.dkr.ecr.eu-west-1.amazonaws.com (the provider's region must be eu-west-1).
# Secrets Manager adds a random suffix to a secret's ARN: complete credential_arn from the secret.

resource "aws_ecr_pull_through_cache_rule" "docker_hub" {
  ecr_repository_prefix = "docker-hub"
  upstream_registry_url = "registry-1.docker.io"
  credential_arn        = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ecr-pullthroughcache/docker-hub"
}

resource "aws_ecr_pull_through_cache_rule" "ecr_public" {
  ecr_repository_prefix = "ecr-public"
  upstream_registry_url = "public.ecr.aws"
}
`
	if code != 0 || stdout != want {
		t.Errorf("exit %d, stdout:\n%s\nwant:\n%s", code, stdout, want)
	}
}

// describeJSON is what `aws ecr describe-pull-through-cache-rules` prints
// for a registry whose quay rule points elsewhere, without a kubernetes rule,
// and with a rule the config does not know.
const describeJSON = `{
    "pullThroughCacheRules": [
        {
            "ecrRepositoryPrefix": "docker-hub",
            "upstreamRegistryUrl": "registry-1.docker.io",
            "createdAt": "2026-03-02T10:11:12.000000+00:00",
            "registryId": "123456789012",
            "credentialArn": "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:ecr-pullthroughcache/docker-hub-AbCdEf",
            "upstreamRegistry": "docker-hub",
            "updatedAt": "2026-03-02T10:11:12.000000+00:00"
        },
        {"ecrRepositoryPrefix": "quay", "upstreamRegistryUrl": "public.ecr.aws", "upstreamRegistry": "ecr-public"},
        {"ecrRepositoryPrefix": "azure/myteam/", "upstreamRegistryUrl": "myteam.azurecr.io", "upstreamRegistry": "azure-container-registry"},
        {"ecrRepositoryPrefix": "team/shared", "upstreamRegistryUrl": "210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn", "upstreamRegistry": "ecr"},
        {"ecrRepositoryPrefix": "github", "upstreamRegistryUrl": "ghcr.io", "upstreamRegistry": "github-container-registry"}
    ]
}`

func TestPullThroughRulesCheck(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "config.yaml", consoleRules)
	want := `ok: rule "azure/myteam" for "myteam.azurecr.io"
ok: rule "docker-hub" for "registry-1.docker.io"
missing: rule "kubernetes" for "registry.k8s.io" (create it: aws ecr create-pull-through-cache-rule --ecr-repository-prefix kubernetes --upstream-registry-url registry.k8s.io --region cn-north-1)
wrong upstream: rule "quay" points at "public.ecr.aws" in AWS, the config declares "quay.io" for quay.io
ok: rule "team/shared" for "210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn"
only in AWS: rule "github" for "ghcr.io" (not in the config: its images are not rewritten there)
`
	// From a file and from standard input alike.
	file := writeFile(t, dir, "rules.json", describeJSON)
	for _, args := range [][]string{{"--check", file}, {"--check", "-"}} {
		code, stdout, stderr := runRules(t, describeJSON, append([]string{"--config", cfg}, args...)...)
		if code != 1 || stdout != want || stderr != "" {
			t.Errorf("%v: exit %d, stdout:\n%s\nwant (exit 1):\n%s\nstderr: %s", args, code, stdout, want, stderr)
		}
	}

	// Every declared rule there: 0, the extra one still listed.
	complete := strings.Replace(describeJSON, `"quay", "upstreamRegistryUrl": "public.ecr.aws"`, `"quay", "upstreamRegistryUrl": "quay.io"`, 1)
	complete = strings.Replace(complete, `{"ecrRepositoryPrefix": "github"`, `{"ecrRepositoryPrefix": "kubernetes", "upstreamRegistryUrl": "registry.k8s.io"}, {"ecrRepositoryPrefix": "github"`, 1)
	code, stdout, _ := runRules(t, complete, "--config", cfg, "--check", "-")
	if code != 0 || !strings.Contains(stdout, `only in AWS: rule "github"`) || strings.Contains(stdout, "missing") {
		t.Errorf("complete rules: exit %d, stdout:\n%s", code, stdout)
	}

	// The command's own JSON is describe's shape: it checks clean.
	_, own, _ := runRules(t, "", "--config", cfg, "-o", "json")
	if code, stdout, _ := runRules(t, own, "--config", cfg, "--check", "-"); code != 0 || strings.Contains(stdout, "missing") {
		t.Errorf("-o json checked against itself: exit %d\n%s", code, stdout)
	}
}

func TestPullThroughRulesErrors(t *testing.T) {
	dir := t.TempDir()
	notECR := writeFile(t, dir, "local.yaml", "policies:\n  imageRewrite:\n    registry: localhost:5000\n")
	badRule := writeFile(t, dir, "bad.yaml", "policies:\n  imageRewrite:\n    registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com\n    prefixes:\n      gcr.io: gcr\n")
	for _, tc := range []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"not ECR", "", []string{"--config", notECR},
			`pull-through-rules: policies.imageRewrite.registry "localhost:5000" is not an ECR registry (<account>.dkr.ecr.<region>.amazonaws.com): pull-through cache rules are ECR's`},
		{"unsupported upstream", "", []string{"--config", badRule},
			`pull-through-rules: ` + badRule + `:4: policies.imageRewrite.prefixes[gcr.io]: Invalid value: "gcr.io": ECR pull-through cache has no rule for this upstream (supported: docker.io, public.ecr.aws, quay.io, registry.k8s.io, ghcr.io, registry.gitlab.com, <name>.azurecr.io, cgr.dev, <account>.dkr.ecr.<region>.amazonaws.com); list it in excludeRegistries, or set unlistedRegistries`},
		{"bad output", "", []string{"-o", "yaml"}, `pull-through-rules: --output must be aws, terraform or json (found "yaml")`},
		{"no such file", "", []string{"--check", dir + "/none.json"}, `pull-through-rules: ` + dir + `/none.json: no such file or directory`},
		{"not JSON", "rules:\n", []string{"--check", "-"},
			`pull-through-rules: <stdin>: not the JSON of aws ecr describe-pull-through-cache-rules: invalid character 'r' looking for beginning of value`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runRules(t, tc.stdin, tc.args...)
			if code != 2 || stdout != "" || stderr != tc.want+"\n" {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant (exit 2):\n%s", code, stdout, stderr, tc.want)
			}
		})
	}
}

// The README's bootstrap asks ops to create exactly the rules the shipped
// config declares, in the commands pull-through-rules prints.
func TestPullThroughRulesREADME(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := strings.Join(regexp.MustCompile(`(?m)^\s*aws ecr create-pull-through-cache-rule .*$`).FindAllString(string(readme), -1), "\n")
	documented = regexp.MustCompile(`(?m)^\s+`).ReplaceAllString(documented, "")
	_, stdout, stderr := runRules(t, "", "--config", "../../manifests/webhook/config.yaml")
	if want := strings.TrimSpace(stdout); documented != want || stderr != "" {
		t.Errorf("README's rules:\n%s\nwant what pull-through-rules prints for manifests/webhook/config.yaml:\n%s\n%s", documented, want, stderr)
	}
}
