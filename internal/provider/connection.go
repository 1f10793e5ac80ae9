package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
)

// Summaries users already know from the products imagewatch replaces; keep the wording.
const (
	summaryAuthFailed       = "authentication failed: invalid credentials or insufficient permissions"
	summaryRepoAccessFailed = "repository access failed for: [%s]"
)

// connectionConfig is what a resource or data source itself says about how to connect; null fields
// fall back to the provider.
type connectionConfig struct {
	URL           types.String
	Username      types.String
	AccessToken   types.String
	AccessTokenWO types.String
}

// credentialSource records where the secret came from; Read needs it because a write-only token is
// not available there.
type credentialSource string

const (
	credentialsFromProvider credentialSource = "provider"
	credentialsFromResource credentialSource = "resource"
	credentialsWriteOnly    credentialSource = "write_only"
)

// connection is a resolved connection. Each value may be null (not set anywhere) or unknown (plan time).
type connection struct {
	URL      types.String
	Username types.String
	Secret   types.String
	Source   credentialSource
}

// resolve applies the provider defaults. Credentials travel as a unit: a resource with its own token
// does not borrow the provider's username, since a username turns Bearer into Basic authentication.
func (d *providerData) resolve(c connectionConfig) connection {
	conn := connection{URL: c.URL}
	if conn.URL.IsNull() {
		conn.URL = d.URL
	}
	switch {
	case !c.AccessTokenWO.IsNull():
		conn.Secret, conn.Source = c.AccessTokenWO, credentialsWriteOnly
	case !c.AccessToken.IsNull():
		conn.Secret, conn.Source = c.AccessToken, credentialsFromResource
	default:
		conn.Secret, conn.Source = d.AccessToken, credentialsFromProvider
	}
	switch {
	case !c.Username.IsNull():
		conn.Username = c.Username
	case conn.Source == credentialsFromProvider:
		conn.Username = d.Username
	default:
		conn.Username = types.StringNull()
	}
	return conn
}

// unknown names the connection values that are not known yet.
func (c connection) unknown() []string {
	var out []string
	if c.URL.IsUnknown() {
		out = append(out, "url")
	}
	if c.Username.IsUnknown() {
		out = append(out, "username")
	}
	if c.Secret.IsUnknown() {
		out = append(out, "the access token")
	}
	return out
}

func (c connection) credentials() artifactory.Credentials {
	return artifactory.Credentials{Username: c.Username.ValueString(), Secret: c.Secret.ValueString()}
}

// missingURLDiagnostic is the error when neither the resource, the provider nor JFROG_URL gives a URL.
func missingURLDiagnostic() diag.Diagnostic {
	return diag.NewAttributeErrorDiagnostic(path.Root("url"), "Missing Artifactory URL",
		"No Artifactory URL is set: set url here, url in the provider block, or the "+EnvURL+" environment variable.")
}

// client builds a client for conn, which must be known and have a URL. Clients live for one RPC;
// callers close its idle connections when done so no socket outlives the call.
func (d *providerData) client(ctx context.Context, conn connection) (*artifactory.Client, diag.Diagnostics) {
	var diags diag.Diagnostics
	c, err := d.newClient(ctx, conn.URL.ValueString(), conn.credentials())
	if err != nil {
		diags.AddError("Invalid Artifactory connection settings",
			fmt.Sprintf("Cannot set up the Artifactory client: %s. Check url, and ca_cert_file on the provider.", err))
		return nil, diags
	}
	return c, diags
}

// checkConnection runs the Test Connection check (credentials, then every key) within request_timeout
// and turns its report into diagnostics of the given severity: errors at plan and apply, warnings
// when Read re-checks. The report is nil when the check could not run.
func (d *providerData) checkConnection(ctx context.Context, client *artifactory.Client, keys []string, severity diag.Severity) (*artifactory.ConnectionReport, diag.Diagnostics) {
	var diags diag.Diagnostics
	ctx, cancel := context.WithTimeout(ctx, d.RequestTimeout)
	defer cancel()

	base := client.Endpoints().REST.String()
	report, err := client.TestConnection(ctx, keys)
	if err != nil {
		diags.Append(newDiagnostic(severity, path.Empty(), "Test Connection could not run", err.Error()))
		return nil, diags
	}
	if !report.AuthOK {
		diags.Append(d.authDiagnostic(ctx, client, base, report, severity))
		return report, diags
	}
	failed := report.Failed()
	if len(failed) == 0 {
		return report, diags
	}
	failedKeys := make([]string, len(failed))
	var detail strings.Builder
	fmt.Fprintf(&detail, "Artifactory %s at %s reported:\n", report.Version.Version, base)
	for i, c := range failed {
		failedKeys[i] = c.Key
		fmt.Fprintf(&detail, "\n  - %s: %s", c.Key, repositoryReason(c))
	}
	diags.Append(newDiagnostic(severity, path.Root("repository_keys"),
		fmt.Sprintf(summaryRepoAccessFailed, strings.Join(failedKeys, ", ")), detail.String()))
	return report, diags
}

// authDiagnostic explains a failed credential check: unreachable server, server error, or refused credentials.
func (d *providerData) authDiagnostic(ctx context.Context, client *artifactory.Client, base string, report *artifactory.ConnectionReport, severity diag.Severity) diag.Diagnostic {
	err := report.AuthError
	if err == nil {
		err = errors.New("the server did not confirm the credentials")
	}
	status := artifactory.StatusCode(err)
	switch {
	case artifactory.IsUnreachable(err) || (status == 0 && ctx.Err() != nil):
		what := fmt.Sprintf("No answer from %s within request_timeout = %s", base, d.RequestTimeout)
		advice := "Check url, the network path (proxy, firewall, VPN) and that Artifactory is up; raise " +
			"request_timeout on the provider if the server is just slow."
		if ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
			what = fmt.Sprintf("Cannot connect to %s (request_timeout = %s)", base, d.RequestTimeout)
		}
		if strings.Contains(err.Error(), "x509:") || strings.Contains(err.Error(), "tls:") {
			advice = "The server's TLS certificate is not trusted: set ca_cert_file on the provider to the PEM file " +
				"of the CA that issued it (insecure_skip_verify = true only for a test instance)."
		}
		return newDiagnostic(severity, path.Root("url"), "cannot reach Artifactory at "+base,
			fmt.Sprintf("%s: %s.\n\n%s", what, err, advice))
	case status >= http.StatusInternalServerError || status == http.StatusTooManyRequests:
		return newDiagnostic(severity, path.Root("url"), "Artifactory at "+base+" is unavailable",
			fmt.Sprintf("Artifactory kept answering with an error (retried within request_timeout = %s): %s. "+
				"Try again later, or ask the Artifactory administrators.", d.RequestTimeout, err))
	case status == http.StatusNotFound:
		return newDiagnostic(severity, path.Root("url"), "no Artifactory API at "+base,
			fmt.Sprintf("%s. Is url the JFrog Platform URL (https://acme.jfrog.io) or the Artifactory base URL "+
				"(https://host:8082/artifactory)?", err))
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		hint := report.Hint
		if hint == "" {
			hint = defaultAuthHint(client.Credentials())
		}
		return newDiagnostic(severity, path.Empty(), summaryAuthFailed,
			fmt.Sprintf("Artifactory at %s refused the credentials (%s): %s.\n\n%s",
				base, describeCredentials(client.Credentials()), err, hint))
	default:
		return newDiagnostic(severity, path.Root("url"), "unexpected answer from Artifactory at "+base,
			fmt.Sprintf("The credential check failed: %s.", err))
	}
}

// repositoryReason is the check's own sentence, or a generic one per status.
func repositoryReason(c artifactory.RepositoryCheck) string {
	if c.Reason != "" {
		return c.Reason
	}
	switch c.Status {
	case artifactory.StatusNotFound:
		return "repository not found: check the key (keys are case-sensitive)"
	case artifactory.StatusNotDocker:
		return fmt.Sprintf("not a Docker repository (package type %q): use a Docker or OCI repository", c.Repository.PackageType)
	case artifactory.StatusNoRead:
		return "no READ permission on this repository: ask an administrator for a permission target granting Read"
	case artifactory.StatusUnreachable:
		return "Artifactory did not answer for this repository within request_timeout"
	case artifactory.StatusUnauthorized:
		return "the credentials were refused for this repository"
	}
	return c.Status
}

// describeCredentials says how the credentials were sent, never what they are.
func describeCredentials(c artifactory.Credentials) string {
	switch c.Mode() {
	case artifactory.AuthBasic:
		return fmt.Sprintf("Basic authentication as user %q", c.Username)
	case artifactory.AuthAPIKey:
		return "legacy API key in the X-JFrog-Art-Api header"
	case artifactory.AuthBearer:
		return "Bearer token, no username"
	}
	return "no credentials, anonymous"
}

func defaultAuthHint(c artifactory.Credentials) string {
	switch c.Mode() {
	case artifactory.AuthNone:
		return "No credentials were sent: set access_token or access_token_wo here, access_token on the provider, or " + EnvAccessToken + "."
	case artifactory.AuthAPIKey:
		return "Legacy API keys are deprecated and may be disabled on this server: use an access token instead."
	case artifactory.AuthBasic:
		return "Check the username and its password, API key or token; a token used with a username must belong to that user."
	}
	return "The token may be expired, revoked or issued by another JFrog Platform: create a new access or identity token. " +
		"A legacy API key needs a username."
}

func newDiagnostic(severity diag.Severity, p path.Path, summary, detail string) diag.Diagnostic {
	if severity == diag.SeverityWarning {
		if p.Equal(path.Empty()) {
			return diag.NewWarningDiagnostic(summary, detail)
		}
		return diag.NewAttributeWarningDiagnostic(p, summary, detail)
	}
	if p.Equal(path.Empty()) {
		return diag.NewErrorDiagnostic(summary, detail)
	}
	return diag.NewAttributeErrorDiagnostic(p, summary, detail)
}
