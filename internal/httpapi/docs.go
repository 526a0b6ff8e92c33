package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

func (s *Server) openapi(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(s.spec)
}

func (s *Server) docs(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(s.docsHTML)
}

// LoadSpec parses and validates an OpenAPI document.
func LoadSpec(spec []byte) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(spec)
	if err != nil {
		return nil, fmt.Errorf("parse openapi spec: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("validate openapi spec: %w", err)
	}
	return doc, nil
}

// The docs page is rendered once, on the server, from the spec: it needs no
// script, stylesheet or font from anywhere, so it works offline.

type docsPage struct {
	Title       string
	Version     string
	Description string
	Groups      []docsGroup
	Schemas     []docsSchema
}

type docsGroup struct {
	Name        string
	Description string
	Operations  []docsOperation
}

type docsOperation struct {
	Anchor      string
	Method      string
	Path        string
	Summary     string
	Description string
	Auth        string
	Params      []docsParam
	Body        template.HTML
	Responses   []docsResponse
}

type docsParam struct {
	Name, In, Type, Description string
	Required                    bool
}

type docsResponse struct {
	Status, Description string
	Schema              template.HTML
}

type docsSchema struct {
	Name, Description string
	Body              template.HTML
}

func renderDocs(spec []byte) ([]byte, error) {
	doc, err := LoadSpec(spec)
	if err != nil {
		return nil, err
	}
	page := docsPage{Title: doc.Info.Title, Version: doc.Info.Version, Description: doc.Info.Description}
	groups := map[string]*docsGroup{}
	var order []string
	for _, t := range doc.Tags {
		groups[t.Name] = &docsGroup{Name: t.Name, Description: t.Description}
		order = append(order, t.Name)
	}
	paths := doc.Paths.InMatchingOrder()
	slices.Sort(paths)
	for _, path := range paths {
		item := doc.Paths.Value(path)
		for _, method := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			op := item.GetOperation(method)
			if op == nil {
				continue
			}
			tag := "Other"
			if len(op.Tags) > 0 {
				tag = op.Tags[0]
			}
			g, ok := groups[tag]
			if !ok {
				g = &docsGroup{Name: tag}
				groups[tag] = g
				order = append(order, tag)
			}
			g.Operations = append(g.Operations, docsOp(doc, method, path, item, op))
		}
	}
	for _, name := range order {
		if g := groups[name]; len(g.Operations) > 0 {
			page.Groups = append(page.Groups, *g)
		}
	}
	names := make([]string, 0, len(doc.Components.Schemas))
	for name := range doc.Components.Schemas {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		ref := doc.Components.Schemas[name]
		page.Schemas = append(page.Schemas, docsSchema{
			Name: name, Description: ref.Value.Description,
			Body: schemaHTML(ref.Value, 0),
		})
	}
	var buf bytes.Buffer
	if err := docsTemplate.Execute(&buf, page); err != nil {
		return nil, fmt.Errorf("render docs: %w", err)
	}
	return buf.Bytes(), nil
}

func docsOp(doc *openapi3.T, method, path string, item *openapi3.PathItem, op *openapi3.Operation) docsOperation {
	o := docsOperation{
		Anchor:      strings.ToLower(method) + strings.NewReplacer("/", "-", "{", "", "}", "").Replace(path),
		Method:      method,
		Path:        path,
		Summary:     op.Summary,
		Description: op.Description,
		Auth:        "public",
	}
	security := doc.Security
	if op.Security != nil {
		security = *op.Security
	}
	if len(security) > 0 && len(security[0]) > 0 {
		o.Auth = "bearer token"
		if role, ok := op.Extensions["x-role"].(string); ok {
			o.Auth += " (" + role + ")"
		}
	}
	params := append(openapi3.Parameters{}, item.Parameters...)
	params = append(params, op.Parameters...)
	for _, p := range params {
		if p.Value == nil {
			continue
		}
		o.Params = append(o.Params, docsParam{
			Name: p.Value.Name, In: p.Value.In, Required: p.Value.Required,
			Type: typeName(p.Value.Schema), Description: p.Value.Description,
		})
	}
	if op.RequestBody != nil && op.RequestBody.Value != nil {
		for _, mt := range op.RequestBody.Value.Content {
			o.Body = schemaRefHTML(mt.Schema, 0)
			break
		}
	}
	codes := make([]string, 0, op.Responses.Len())
	for code := range op.Responses.Map() {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	for _, code := range codes {
		ref := op.Responses.Value(code)
		if ref == nil || ref.Value == nil {
			continue
		}
		r := docsResponse{Status: code}
		if ref.Value.Description != nil {
			r.Description = *ref.Value.Description
		}
		for _, mt := range ref.Value.Content {
			r.Schema = schemaRefHTML(mt.Schema, 0)
			break
		}
		o.Responses = append(o.Responses, r)
	}
	return o
}

// typeName describes a schema in a few words, naming components by link.
func typeName(ref *openapi3.SchemaRef) string {
	if ref == nil {
		return ""
	}
	if ref.Ref != "" {
		return refName(ref.Ref)
	}
	s := ref.Value
	if s == nil || s.Type == nil {
		return "any"
	}
	t := strings.Join(s.Type.Slice(), " | ")
	if s.Type.Is("array") {
		return "array of " + typeName(s.Items)
	}
	if s.Format != "" {
		t += " (" + s.Format + ")"
	}
	if len(s.Enum) > 0 {
		var vals []string
		for _, e := range s.Enum {
			vals = append(vals, fmt.Sprint(e))
		}
		t += ": " + strings.Join(vals, ", ")
	}
	return t
}

func refName(ref string) string { return ref[strings.LastIndex(ref, "/")+1:] }

func schemaRefHTML(ref *openapi3.SchemaRef, depth int) template.HTML {
	if ref == nil {
		return ""
	}
	if ref.Ref != "" {
		name := template.HTMLEscapeString(refName(ref.Ref))
		return template.HTML(`<a href="#schema-` + name + `">` + name + `</a>`)
	}
	return schemaHTML(ref.Value, depth)
}

func schemaHTML(s *openapi3.Schema, depth int) template.HTML {
	if s == nil {
		return ""
	}
	var b strings.Builder
	switch {
	case len(s.OneOf) > 0:
		b.WriteString("one of: ")
		for i, alt := range s.OneOf {
			if i > 0 {
				b.WriteString(" | ")
			}
			b.WriteString(string(schemaRefHTML(alt, depth+1)))
		}
	case len(s.AllOf) > 0:
		b.WriteString("all of: ")
		for i, part := range s.AllOf {
			if i > 0 {
				b.WriteString(" + ")
			}
			b.WriteString(string(schemaRefHTML(part, depth+1)))
		}
	case s.Type != nil && s.Type.Is("array"):
		b.WriteString("array of ")
		b.WriteString(string(schemaRefHTML(s.Items, depth+1)))
	case len(s.Properties) > 0 && depth < 4:
		names := make([]string, 0, len(s.Properties))
		for n := range s.Properties {
			names = append(names, n)
		}
		slices.Sort(names)
		b.WriteString(`<table class="props">`)
		for _, n := range names {
			p := s.Properties[n]
			req := ""
			if slices.Contains(s.Required, n) {
				req = ` <span class="req">required</span>`
			}
			desc := ""
			if p.Value != nil {
				desc = p.Value.Description
			}
			inner := template.HTML(template.HTMLEscapeString(typeName(p)))
			if p.Ref != "" || (p.Value != nil && (len(p.Value.Properties) > 0 || p.Value.Type.Is("array"))) {
				inner = schemaRefHTML(p, depth+1)
			}
			fmt.Fprintf(&b, `<tr><td><code>%s</code>%s</td><td>%s</td><td>%s</td></tr>`,
				template.HTMLEscapeString(n), req, inner, template.HTMLEscapeString(desc))
		}
		b.WriteString(`</table>`)
	default:
		b.WriteString(template.HTMLEscapeString(typeName(&openapi3.SchemaRef{Value: s})))
	}
	return template.HTML(b.String())
}

var docsTemplate = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} {{.Version}}</title>
<style>
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2430;background:#fafbfc}
nav{position:fixed;top:0;bottom:0;left:0;width:270px;overflow:auto;background:#1d2430;color:#cfd6e0;padding:1rem;box-sizing:border-box;font-size:13px}
nav a{color:#cfd6e0;text-decoration:none;display:block;padding:1px 0}nav h3{color:#fff;margin:1rem 0 .3rem}
main{margin-left:270px;padding:1.5rem 2.5rem;max-width:980px}
.op{background:#fff;border:1px solid #e1e5eb;border-radius:6px;padding:1rem 1.2rem;margin:1rem 0}
.m{display:inline-block;min-width:58px;text-align:center;font-weight:700;border-radius:4px;padding:1px 6px;color:#fff;font-size:12px}
.GET{background:#2b7bb9}.POST{background:#2f9e44}.PATCH{background:#d9822b}.PUT{background:#8a5cd0}.DELETE{background:#c92a2a}
code{font:13px ui-monospace,Menlo,monospace;background:#f1f3f5;padding:0 3px;border-radius:3px}
table{border-collapse:collapse;width:100%;margin:.3rem 0}td,th{border-top:1px solid #eef0f3;padding:4px 6px;text-align:left;vertical-align:top;font-size:13px}
.req{color:#c92a2a;font-size:11px}.auth{color:#667;font-size:12px}h4{margin:.8rem 0 .2rem;font-size:13px;text-transform:uppercase;color:#556}
</style></head><body>
<nav><strong>{{.Title}}</strong> <small>{{.Version}}</small>
<p><a href="/openapi.yaml">openapi.yaml</a></p>
{{range .Groups}}<h3>{{.Name}}</h3>{{range .Operations}}<a href="#{{.Anchor}}">{{.Method}} {{.Path}}</a>{{end}}{{end}}
<h3>Schemas</h3>{{range .Schemas}}<a href="#schema-{{.Name}}">{{.Name}}</a>{{end}}
</nav>
<main>
<h1>{{.Title}} <small>{{.Version}}</small></h1>
<p style="white-space:pre-line">{{.Description}}</p>
{{range .Groups}}<h2>{{.Name}}</h2>{{if .Description}}<p>{{.Description}}</p>{{end}}
{{range .Operations}}<section class="op" id="{{.Anchor}}">
<div><span class="m {{.Method}}">{{.Method}}</span> <code>{{.Path}}</code> <span class="auth">{{.Auth}}</span></div>
<p><strong>{{.Summary}}</strong></p>{{if .Description}}<p style="white-space:pre-line">{{.Description}}</p>{{end}}
{{if .Params}}<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th><th>description</th></tr>
{{range .Params}}<tr><td><code>{{.Name}}</code>{{if .Required}} <span class="req">required</span>{{end}}</td><td>{{.In}}</td><td>{{.Type}}</td><td>{{.Description}}</td></tr>{{end}}</table>{{end}}
{{if .Body}}<h4>Request body</h4>{{.Body}}{{end}}
<h4>Responses</h4><table>{{range .Responses}}<tr><td><code>{{.Status}}</code></td><td>{{.Description}}</td><td>{{.Schema}}</td></tr>{{end}}</table>
</section>{{end}}{{end}}
<h2>Schemas</h2>
{{range .Schemas}}<section class="op" id="schema-{{.Name}}"><strong>{{.Name}}</strong>{{if .Description}}<p>{{.Description}}</p>{{end}}{{.Body}}</section>{{end}}
</main></body></html>
`))
