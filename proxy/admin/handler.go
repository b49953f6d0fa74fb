package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/maxproxy/maxproxy/proxy/admin/api"
)

// route is one endpoint: a method and a path of literal segments and
// "{}" placeholders, whose values reach the handler in order.
type route struct {
	method string
	path   []string
	serve  func(s *Server, w http.ResponseWriter, r *http.Request, args []string)
}

func routes() []route {
	r := func(method, path string, serve func(*Server, http.ResponseWriter, *http.Request, []string)) route {
		return route{method: method, path: strings.Split(strings.Trim(path, "/"), "/"), serve: serve}
	}
	return []route{
		r("GET", "", (*Server).getRoot),
		r("GET", "maxproxy", (*Server).getMaxProxy),
		r("POST", "reload", (*Server).postReload),
		r("GET", "servers", (*Server).getServers),
		r("GET", "servers/{}", (*Server).getServer),
		r("PUT", "servers/{}/set", (*Server).setServer),
		r("PUT", "servers/{}/clear", (*Server).clearServer),
		r("GET", "services", (*Server).getServices),
		r("GET", "services/{}", (*Server).getService),
		r("GET", "listeners", (*Server).getListeners),
		r("GET", "listeners/{}", (*Server).getListener),
		r("GET", "monitors", (*Server).getMonitors),
		r("GET", "monitors/{}", (*Server).getMonitor),
		r("PUT", "monitors/{}/stop", (*Server).stopMonitor),
		r("PUT", "monitors/{}/start", (*Server).startMonitor),
		r("GET", "sessions", (*Server).getSessions),
		r("GET", "sessions/{}", (*Server).getSession),
		r("DELETE", "sessions/{}", (*Server).deleteSession),
	}
}

// match returns the placeholder values if segs fits the route's path.
func (rt *route) match(segs []string) ([]string, bool) {
	if len(segs) != len(rt.path) {
		return nil, false
	}
	var args []string
	for i, p := range rt.path {
		switch {
		case p == "{}":
			args = append(args, segs[i])
		case p != segs[i]:
			return nil, false
		}
	}
	return args, true
}

// handler authenticates every request, whatever its path, before routing
// it: an unauthenticated client learns nothing, not even which paths exist.
func (s *Server) handler() http.Handler {
	table := routes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, password, ok := r.BasicAuth()
		if !ok || !s.creds.Load().check(user, password) {
			s.log.Info("admin API: authentication failed", "remote", r.RemoteAddr, "user", user, "path", r.URL.Path)
			w.Header().Set("WWW-Authenticate", `Basic realm="maxproxy", charset="UTF-8"`)
			writeError(w, http.StatusUnauthorized, "authentication required: wrong or missing user name or password")
			return
		}
		segs, err := splitPath(r.URL.EscapedPath())
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		var allow []string
		for i := range table {
			rt := &table[i]
			args, ok := rt.match(segs)
			if !ok {
				continue
			}
			if rt.method == r.Method || (rt.method == http.MethodGet && r.Method == http.MethodHead) {
				if r.Method != http.MethodGet && r.Method != http.MethodHead {
					s.log.Info("admin API request", "method", r.Method, "path", r.URL.Path, "user", user, "remote", r.RemoteAddr)
				}
				rt.serve(s, w, r, args)
				return
			}
			allow = append(allow, rt.method)
		}
		if len(allow) > 0 {
			if slices.Contains(allow, http.MethodGet) {
				allow = append(allow, http.MethodHead)
			}
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allow, ", ")))
			return
		}
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such resource: %s", r.URL.Path))
	})
}

// splitPath returns the unescaped segments of an escaped path, without the
// optional /v1 prefix and without empty segments from a trailing slash.
func splitPath(escaped string) ([]string, error) {
	escaped = strings.Trim(escaped, "/")
	if escaped == "" {
		return []string{""}, nil
	}
	raw := strings.Split(escaped, "/")
	if raw[0] == strings.TrimPrefix(api.Prefix, "/") {
		raw = raw[1:]
		if len(raw) == 0 {
			return []string{""}, nil
		}
	}
	segs := make([]string, len(raw))
	for i, p := range raw {
		u, err := url.PathUnescape(p)
		if err != nil {
			return nil, fmt.Errorf("bad path segment %q: %v", p, err)
		}
		segs[i] = u
	}
	return segs, nil
}

// writeJSON answers 200 with v, compact unless the request asks for
// ?pretty=true as MaxScale's API does: indenting a list of 10,000 sessions
// costs several times the time and memory of encoding it.
func writeJSON(w http.ResponseWriter, r *http.Request, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	if r.URL.Query().Get("pretty") == "true" {
		enc.SetIndent("", "  ")
	}
	// Encode marshals the whole value before its first write, so a failure
	// can still become an error response.
	if err := enc.Encode(v); err != nil {
		writeError(w, http.StatusInternalServerError, "encoding response: "+err.Error())
	}
}

func writeError(w http.ResponseWriter, status int, detail string) {
	body, _ := json.Marshal(api.ErrorDocument{Errors: []api.ErrorObject{{Detail: detail}}})
	body = append(body, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// fail reports a Runtime error with the status its sentinel asks for.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := api.StatusOf(err)
	if status == http.StatusInternalServerError {
		s.log.Error("admin API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeError(w, status, err.Error())
}

func noContent(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) }

func (s *Server) getRoot(w http.ResponseWriter, r *http.Request, _ []string) {
	writeJSON(w, r, struct {
		Links map[string]string `json:"links"`
	}{map[string]string{
		"self":            api.Prefix + "/",
		api.TypeMaxProxy:  api.Path(api.TypeMaxProxy),
		api.TypeServers:   api.Path(api.TypeServers),
		api.TypeServices:  api.Path(api.TypeServices),
		api.TypeListeners: api.Path(api.TypeListeners),
		api.TypeMonitors:  api.Path(api.TypeMonitors),
		api.TypeSessions:  api.Path(api.TypeSessions),
	}})
}

func (s *Server) getMaxProxy(w http.ResponseWriter, r *http.Request, _ []string) {
	writeJSON(w, r, api.Document[api.MaxProxyResource]{
		Data: api.MaxProxyResource{
			ID: api.TypeMaxProxy, Type: api.TypeMaxProxy, Attributes: s.rt.Info(),
			Links: api.Links{Self: api.Path(api.TypeMaxProxy)},
		},
		Links: api.Links{Self: api.Path(api.TypeMaxProxy)},
	})
}

func (s *Server) postReload(w http.ResponseWriter, r *http.Request, _ []string) {
	res, err := s.rt.Reload(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if res.Changes == nil {
		res.Changes = []api.ReloadChange{}
	}
	if res.RestartRequired == nil {
		res.RestartRequired = []string{}
	}
	self := api.Path(api.TypeReload)
	writeJSON(w, r, api.Document[api.ReloadResource]{
		Data: api.ReloadResource{
			ID: api.TypeReload, Type: api.TypeReload,
			Attributes: res,
			Links:      api.Links{Self: self},
		},
		Links: api.Links{Self: self},
	})
}

// relation builds a relationship to objects of type typ.
func relation(typ string, ids ...string) api.Relationship {
	rel := api.Relationship{Data: make([]api.Identifier, 0, len(ids)), Links: api.Links{Self: api.Path(typ)}}
	for _, id := range ids {
		rel.Data = append(rel.Data, api.Identifier{ID: id, Type: typ})
	}
	return rel
}

// list writes a collection document of objs converted by conv.
func list[T, A any](w http.ResponseWriter, r *http.Request, typ string, objs []T, conv func(T) api.Resource[A]) {
	data := make([]api.Resource[A], 0, len(objs))
	for _, o := range objs {
		data = append(data, conv(o))
	}
	writeJSON(w, r, api.Document[[]api.Resource[A]]{Data: data, Links: api.Links{Self: api.Path(typ)}})
}

// one writes the object of objs whose id is id, or a 404 naming kind.
func one[T, A any](w http.ResponseWriter, r *http.Request, kind, id string, objs []T, conv func(T) api.Resource[A]) {
	for _, o := range objs {
		if res := conv(o); res.ID == id {
			writeJSON(w, r, api.Document[api.Resource[A]]{Data: res, Links: res.Links})
			return
		}
	}
	writeError(w, http.StatusNotFound, fmt.Sprintf("%s %q not found", kind, id))
}

func serverResource(o ServerInfo) api.ServerResource {
	return api.ServerResource{
		ID: o.Name, Type: api.TypeServers, Attributes: o.Attributes,
		Relationships: map[string]api.Relationship{
			api.TypeServices: relation(api.TypeServices, o.Services...),
			api.TypeMonitors: relation(api.TypeMonitors, o.Monitors...),
		},
		Links: api.Links{Self: api.Path(api.TypeServers, o.Name)},
	}
}

func serviceResource(o ServiceInfo) api.ServiceResource {
	return api.ServiceResource{
		ID: o.Name, Type: api.TypeServices, Attributes: o.Attributes,
		Relationships: map[string]api.Relationship{
			api.TypeServers:   relation(api.TypeServers, o.Servers...),
			api.TypeListeners: relation(api.TypeListeners, o.Listeners...),
		},
		Links: api.Links{Self: api.Path(api.TypeServices, o.Name)},
	}
}

func listenerResource(o ListenerInfo) api.ListenerResource {
	return api.ListenerResource{
		ID: o.Name, Type: api.TypeListeners, Attributes: o.Attributes,
		Relationships: map[string]api.Relationship{
			api.TypeServices: relation(api.TypeServices, o.Service),
		},
		Links: api.Links{Self: api.Path(api.TypeListeners, o.Name)},
	}
}

func monitorResource(o MonitorInfo) api.MonitorResource {
	return api.MonitorResource{
		ID: o.Name, Type: api.TypeMonitors, Attributes: o.Attributes,
		Relationships: map[string]api.Relationship{
			api.TypeServers: relation(api.TypeServers, o.Servers...),
		},
		Links: api.Links{Self: api.Path(api.TypeMonitors, o.Name)},
	}
}

func sessionResource(o SessionInfo) api.SessionResource {
	id := strconv.FormatUint(o.ID, 10)
	servers := make([]string, 0, len(o.Attributes.Connections))
	for _, c := range o.Attributes.Connections {
		servers = append(servers, c.Server)
	}
	if o.Attributes.Connections == nil {
		o.Attributes.Connections = []api.SessionConnection{}
	}
	return api.SessionResource{
		ID: id, Type: api.TypeSessions, Attributes: o.Attributes,
		Relationships: map[string]api.Relationship{
			api.TypeServices: relation(api.TypeServices, o.Service),
			api.TypeServers:  relation(api.TypeServers, servers...),
		},
		Links: api.Links{Self: api.Path(api.TypeSessions, id)},
	}
}

func (s *Server) getServers(w http.ResponseWriter, r *http.Request, _ []string) {
	list(w, r, api.TypeServers, s.rt.Servers(), serverResource)
}

func (s *Server) getServer(w http.ResponseWriter, r *http.Request, a []string) {
	one(w, r, "server", a[0], s.rt.Servers(), serverResource)
}

func (s *Server) getServices(w http.ResponseWriter, r *http.Request, _ []string) {
	list(w, r, api.TypeServices, s.rt.Services(), serviceResource)
}

func (s *Server) getService(w http.ResponseWriter, r *http.Request, a []string) {
	one(w, r, "service", a[0], s.rt.Services(), serviceResource)
}

func (s *Server) getListeners(w http.ResponseWriter, r *http.Request, _ []string) {
	list(w, r, api.TypeListeners, s.rt.Listeners(), listenerResource)
}

func (s *Server) getListener(w http.ResponseWriter, r *http.Request, a []string) {
	one(w, r, "listener", a[0], s.rt.Listeners(), listenerResource)
}

func (s *Server) getMonitors(w http.ResponseWriter, r *http.Request, _ []string) {
	list(w, r, api.TypeMonitors, s.rt.Monitors(), monitorResource)
}

func (s *Server) getMonitor(w http.ResponseWriter, r *http.Request, a []string) {
	one(w, r, "monitor", a[0], s.rt.Monitors(), monitorResource)
}

func (s *Server) getSessions(w http.ResponseWriter, r *http.Request, _ []string) {
	list(w, r, api.TypeSessions, s.rt.Sessions(), sessionResource)
}

func (s *Server) getSession(w http.ResponseWriter, r *http.Request, a []string) {
	if _, ok := parseSessionID(w, a[0]); !ok {
		return
	}
	one(w, r, "session", a[0], s.rt.Sessions(), sessionResource)
}

func parseSessionID(w http.ResponseWriter, s string) (uint64, bool) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || strconv.FormatUint(id, 10) != s {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("session id must be a decimal number, got %q", s))
		return 0, false
	}
	return id, true
}

func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request, a []string) {
	id, ok := parseSessionID(w, a[0])
	if !ok {
		return
	}
	if err := s.rt.KillSession(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	noContent(w)
}

// stateParams reads ?state= and ?force= of set and clear.
func stateParams(r *http.Request, allowForce bool) (state string, force bool, err error) {
	q := r.URL.Query()
	for k := range q {
		if k != "state" && k != "force" && k != "pretty" {
			return "", false, fmt.Errorf("unknown parameter %q: expected state and force", k)
		}
	}
	state = q.Get("state")
	switch state {
	case api.StateMaintenance, api.StateDrain:
	case "":
		return "", false, fmt.Errorf("missing parameter state: expected %s or %s", api.StateMaintenance, api.StateDrain)
	default:
		return "", false, fmt.Errorf("invalid state %q: expected %s or %s", state, api.StateMaintenance, api.StateDrain)
	}
	if !q.Has("force") {
		return state, false, nil
	}
	switch f := q.Get("force"); f {
	case "yes", "true":
		force = true
	case "no", "false":
	default:
		return "", false, fmt.Errorf("invalid force %q: expected yes or no", f)
	}
	if force && (!allowForce || state != api.StateMaintenance) {
		return "", false, fmt.Errorf("force applies only to setting %s", api.StateMaintenance)
	}
	return state, force, nil
}

func (s *Server) setServer(w http.ResponseWriter, r *http.Request, a []string) {
	state, force, err := stateParams(r, true)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := s.rt.SetServerState(r.Context(), a[0], state, force); err != nil {
		s.fail(w, r, err)
		return
	}
	noContent(w)
}

func (s *Server) clearServer(w http.ResponseWriter, r *http.Request, a []string) {
	state, _, err := stateParams(r, false)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := s.rt.ClearServerState(r.Context(), a[0], state); err != nil {
		s.fail(w, r, err)
		return
	}
	noContent(w)
}

func (s *Server) stopMonitor(w http.ResponseWriter, r *http.Request, a []string) {
	if err := s.rt.StopMonitor(r.Context(), a[0]); err != nil {
		s.fail(w, r, err)
		return
	}
	noContent(w)
}

func (s *Server) startMonitor(w http.ResponseWriter, r *http.Request, a []string) {
	if err := s.rt.StartMonitor(r.Context(), a[0]); err != nil {
		s.fail(w, r, err)
		return
	}
	noContent(w)
}
