// Package client is a typed client of maxproxy's admin REST API (package
// admin), the one `maxproxy ctl` uses. It links nothing of the proxy
// runtime: only net/http and the JSON documents of package api.
//
// A failed request returns *Error, which carries the HTTP status and the
// server's own detail and matches api.ErrNotFound, api.ErrInvalid,
// api.ErrConflict and api.ErrUnauthorized with errors.Is.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/maxproxy/maxproxy/proxy/admin/api"
)

// DefaultTimeout bounds a request when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// maxBody bounds a response body: a list of 10,000 sessions is a few MiB.
const maxBody = 64 << 20

// Options configure a Client.
type Options struct {
	// URL of the API: "http://host:port", "https://host:port", or a bare
	// "host:port", which means https when TLS is set and http otherwise.
	URL      string
	User     string
	Password string
	// TLS configures https; nil uses the system's roots.
	TLS *tls.Config
	// Timeout bounds each request (DefaultTimeout when zero).
	Timeout time.Duration
}

// Client talks to one maxproxy. It is safe for concurrent use.
type Client struct {
	base     *url.URL
	user     string
	password string
	http     *http.Client
	tr       *http.Transport
}

// New returns a client for o.URL. It does not connect.
func New(o Options) (*Client, error) {
	raw := o.URL
	if !strings.Contains(raw, "://") {
		scheme := "http"
		if o.TLS != nil {
			scheme = "https"
		}
		raw = scheme + "://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("admin client: bad URL %q: %w", o.URL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("admin client: bad URL %q: want http://host:port, https://host:port or host:port", o.URL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	timeout := o.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	// No Proxy: the admin API is reached directly, and an HTTP_PROXY meant
	// for the internet must not see its Basic credentials.
	tr := &http.Transport{
		TLSClientConfig:     o.TLS,
		TLSHandshakeTimeout: timeout,
		IdleConnTimeout:     30 * time.Second,
	}
	return &Client{
		base: u, user: o.User, password: o.Password, tr: tr,
		http: &http.Client{Transport: tr, Timeout: timeout},
	}, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.tr.CloseIdleConnections() }

// Error is a request the API refused or failed.
type Error struct {
	Method string
	Path   string
	Status int
	// Detail is the server's message, meant for the operator.
	Detail string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (HTTP %d from %s %s)", e.Detail, e.Status, e.Method, e.Path)
}

// Is matches the api sentinel of e's status.
func (e *Error) Is(target error) bool {
	s := api.SentinelOf(e.Status)
	return s != nil && target == s
}

// Raw performs a request and returns the response body as the server sent
// it (empty for 204).
func (c *Client) Raw(ctx context.Context, method, path string) ([]byte, error) {
	u := *c.base
	p, q, _ := strings.Cut(path, "?")
	u.RawPath = c.base.Path + p
	var err error
	if u.Path, err = url.PathUnescape(u.RawPath); err != nil {
		return nil, fmt.Errorf("admin client: bad path %q: %w", path, err)
	}
	u.RawQuery = q
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("admin client: %w", err)
	}
	req.SetBasicAuth(c.user, c.password)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin client: %s %s: %w", method, p, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("admin client: %s %s: reading response: %w", method, p, err)
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("admin client: %s %s: response larger than %d bytes", method, p, maxBody)
	}
	if resp.StatusCode/100 != 2 {
		return nil, &Error{Method: method, Path: p, Status: resp.StatusCode, Detail: detail(resp, body)}
	}
	return body, nil
}

// detail extracts the server's message, or describes a body that is not
// an API error document (e.g. from something else listening on the port).
func detail(resp *http.Response, body []byte) string {
	var doc api.ErrorDocument
	if err := json.Unmarshal(body, &doc); err == nil && len(doc.Errors) > 0 {
		msgs := make([]string, 0, len(doc.Errors))
		for _, e := range doc.Errors {
			msgs = append(msgs, e.Detail)
		}
		return strings.Join(msgs, "; ")
	}
	snippet := string(bytes.TrimSpace(body))
	if len(snippet) > 200 {
		snippet = snippet[:200] + "..."
	}
	if snippet == "" {
		return resp.Status
	}
	return resp.Status + ": " + snippet
}

// get decodes the document at path into v.
func (c *Client) get(ctx context.Context, path string, v any) error {
	body, err := c.Raw(ctx, http.MethodGet, path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("admin client: GET %s: decoding response: %w", path, err)
	}
	return nil
}

func getOne[A any](ctx context.Context, c *Client, typ, id string) (api.Resource[A], error) {
	var doc api.Document[api.Resource[A]]
	err := c.get(ctx, api.Path(typ, id), &doc)
	return doc.Data, err
}

func getAll[A any](ctx context.Context, c *Client, typ string) ([]api.Resource[A], error) {
	var doc api.Document[[]api.Resource[A]]
	err := c.get(ctx, api.Path(typ), &doc)
	return doc.Data, err
}

// Health checks that the API answers and accepts the credentials.
func (c *Client) Health(ctx context.Context) error {
	_, err := c.Raw(ctx, http.MethodGet, api.Prefix+"/")
	return err
}

// MaxProxy returns the process's version, start time and uptime.
func (c *Client) MaxProxy(ctx context.Context) (api.MaxProxyResource, error) {
	var doc api.Document[api.MaxProxyResource]
	err := c.get(ctx, api.Path(api.TypeMaxProxy), &doc)
	return doc.Data, err
}

// Servers lists every server.
func (c *Client) Servers(ctx context.Context) ([]api.ServerResource, error) {
	return getAll[api.ServerAttributes](ctx, c, api.TypeServers)
}

// Server returns one server.
func (c *Client) Server(ctx context.Context, name string) (api.ServerResource, error) {
	return getOne[api.ServerAttributes](ctx, c, api.TypeServers, name)
}

// Services lists every service.
func (c *Client) Services(ctx context.Context) ([]api.ServiceResource, error) {
	return getAll[api.ServiceAttributes](ctx, c, api.TypeServices)
}

// Service returns one service.
func (c *Client) Service(ctx context.Context, name string) (api.ServiceResource, error) {
	return getOne[api.ServiceAttributes](ctx, c, api.TypeServices, name)
}

// Listeners lists every listener.
func (c *Client) Listeners(ctx context.Context) ([]api.ListenerResource, error) {
	return getAll[api.ListenerAttributes](ctx, c, api.TypeListeners)
}

// Listener returns one listener.
func (c *Client) Listener(ctx context.Context, name string) (api.ListenerResource, error) {
	return getOne[api.ListenerAttributes](ctx, c, api.TypeListeners, name)
}

// Monitors lists every monitor.
func (c *Client) Monitors(ctx context.Context) ([]api.MonitorResource, error) {
	return getAll[api.MonitorAttributes](ctx, c, api.TypeMonitors)
}

// Monitor returns one monitor.
func (c *Client) Monitor(ctx context.Context, name string) (api.MonitorResource, error) {
	return getOne[api.MonitorAttributes](ctx, c, api.TypeMonitors, name)
}

// Sessions lists every client session.
func (c *Client) Sessions(ctx context.Context) ([]api.SessionResource, error) {
	return getAll[api.SessionAttributes](ctx, c, api.TypeSessions)
}

// Session returns one client session.
func (c *Client) Session(ctx context.Context, id string) (api.SessionResource, error) {
	return getOne[api.SessionAttributes](ctx, c, api.TypeSessions, id)
}

// act performs an action that answers 204.
func (c *Client) act(ctx context.Context, method, path string) error {
	_, err := c.Raw(ctx, method, path)
	return err
}

// SetServerState sets api.StateMaintenance or api.StateDrain on a server;
// force (maintenance only) also closes the server's connections.
func (c *Client) SetServerState(ctx context.Context, server, state string, force bool) error {
	q := url.Values{"state": {state}}
	if force {
		q.Set("force", "yes")
	}
	return c.act(ctx, http.MethodPut, api.Path(api.TypeServers, server)+"/set?"+q.Encode())
}

// ClearServerState clears api.StateMaintenance or api.StateDrain.
func (c *Client) ClearServerState(ctx context.Context, server, state string) error {
	return c.act(ctx, http.MethodPut, api.Path(api.TypeServers, server)+"/clear?"+url.Values{"state": {state}}.Encode())
}

// StopMonitor stops a monitor's probing; its servers keep their last state.
func (c *Client) StopMonitor(ctx context.Context, name string) error {
	return c.act(ctx, http.MethodPut, api.Path(api.TypeMonitors, name)+"/stop")
}

// StartMonitor starts a stopped monitor.
func (c *Client) StartMonitor(ctx context.Context, name string) error {
	return c.act(ctx, http.MethodPut, api.Path(api.TypeMonitors, name)+"/start")
}

// KillSession ends a client session.
func (c *Client) KillSession(ctx context.Context, id string) error {
	return c.act(ctx, http.MethodDelete, api.Path(api.TypeSessions, id))
}

// Reload makes the proxy read its configuration file again.
func (c *Client) Reload(ctx context.Context) (api.ReloadAttributes, error) {
	body, err := c.Raw(ctx, http.MethodPost, api.Path(api.TypeReload))
	if err != nil {
		return api.ReloadAttributes{}, err
	}
	var doc api.Document[api.ReloadResource]
	if err := json.Unmarshal(body, &doc); err != nil {
		return api.ReloadAttributes{}, fmt.Errorf("admin client: POST %s: decoding response: %w", api.Path(api.TypeReload), err)
	}
	return doc.Data.Attributes, nil
}
