package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/session"
)

// Limits of the profile routes: WhatsApp's own.
const (
	// maxPushNameLen bounds the push name, in characters.
	maxPushNameLen = 25
	// maxAboutLen bounds the about text, in characters.
	maxAboutLen = 139
)

// profileNameBody is PUT /api/{session}/profile/name (WAHA's ProfileNameRequest).
type profileNameBody struct {
	// Name is the new push name: 1 to 25 characters, no line breaks or control
	// characters.
	Name string `json:"name"`
}

// profileStatusBody is PUT /api/{session}/profile/status (WAHA's ProfileStatusRequest):
// the "About" of the profile.
type profileStatusBody struct {
	// Status is the new about text: 1 to 139 characters, no control characters.
	Status string `json:"status"`
}

// profilePictureBody is PUT /api/{session}/profile/picture (WAHA's
// ProfilePictureRequest).
type profilePictureBody struct {
	// File is the picture: {url} or {mimetype, data}, image/* (WhatsApp takes JPEG).
	// filename is accepted and ignored.
	File *mediaFile `json:"file"`
}

// myProfile is GET /api/{session}/profile (WAHA's MyProfile, plus about).
type myProfile struct {
	ID   chatid.ID `json:"id"`
	Name string    `json:"name"`
	// Picture is the picture's URL; null when none.
	Picture *string `json:"picture"`
	// About is the about text; null when none. Ours: WAHA leaves it out.
	About *string `json:"about"`
}

// meInfo is GET /api/sessions/{session}/me (WAHA's MeInfo).
type meInfo struct {
	ID       chatid.ID `json:"id"`
	PushName string    `json:"pushName"`
}

func (s *Server) profileRoutes() []route {
	return []route{
		{method: "GET", path: "/api/{session}/profile", auth: authTenant, handle: s.getProfile,
			doc: routeDoc{summary: "The session's own profile: id, name, picture, about", tag: "profile", response: myProfile{}}},
		{method: "PUT", path: "/api/{session}/profile/name", auth: authTenant, handle: s.setProfileName,
			doc: routeDoc{summary: "Set the push name", tag: "profile", request: profileNameBody{}, response: contactsResult{}}},
		{method: "PUT", path: "/api/{session}/profile/status", auth: authTenant, handle: s.setProfileStatus,
			doc: routeDoc{summary: "Set the about text (WhatsApp's profile status)", tag: "profile", request: profileStatusBody{}, response: contactsResult{}}},
		{method: "PUT", path: "/api/{session}/profile/picture", auth: authTenant, handle: s.setProfilePicture,
			doc: routeDoc{summary: "Set the profile picture (file by url or base64 data)", tag: "profile", request: profilePictureBody{}, response: contactsResult{}}},
		{method: "DELETE", path: "/api/{session}/profile/picture", auth: authTenant, handle: s.deleteProfilePicture,
			doc: routeDoc{summary: "Remove the profile picture", tag: "profile", response: contactsResult{}}},
		{method: "GET", path: "/api/sessions/{session}/me", auth: authTenant, handle: s.getMe,
			doc: routeDoc{summary: "The account linked to the session (null before linking)", tag: "sessions", response: meInfo{}}},
	}
}

func (s *Server) getProfile(c *fasthttp.RequestCtx, r *request) error {
	p, err := session.Call(r.ctx, s.d.Sessions, r.tenant(), sessionName(c), provider.CapProfile,
		func(ctx context.Context, p provider.Profiler) (provider.Profile, error) { return p.Profile(ctx) })
	if err != nil {
		return s.providerFailure(err)
	}
	answer := myProfile{ID: p.ID, Name: p.Name}
	if p.PictureURL != "" {
		answer.Picture = &p.PictureURL
	}
	if p.About != "" {
		answer.About = &p.About
	}
	return writeJSON(c, http.StatusOK, answer)
}

// checkProfileText checks a name or about: 1 to max characters of valid UTF-8, no
// control characters (line breaks included).
func checkProfileText(v string, max int, code, field string) error {
	bad := func(msg string) error {
		return badRequest(code, field+" "+msg, d("field", field, "limit", max))
	}
	switch {
	case v == "":
		return bad("must not be empty")
	case !utf8.ValidString(v) || utf8.RuneCountInString(v) > max:
		return bad("must be valid UTF-8 of at most " + strconv.Itoa(max) + " characters")
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return bad("must not contain line breaks or control characters")
		}
	}
	return nil
}

func (s *Server) setProfileName(c *fasthttp.RequestCtx, r *request) error {
	var b profileNameBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if err := checkProfileText(b.Name, maxPushNameLen, "invalid_name", "name"); err != nil {
		return err
	}
	return s.changeProfile(c, r, func(ctx context.Context, p provider.Profiler) error { return p.SetName(ctx, b.Name) })
}

func (s *Server) setProfileStatus(c *fasthttp.RequestCtx, r *request) error {
	var b profileStatusBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if err := checkProfileText(b.Status, maxAboutLen, "invalid_status", "status"); err != nil {
		return err
	}
	return s.changeProfile(c, r, func(ctx context.Context, p provider.Profiler) error { return p.SetAbout(ctx, b.Status) })
}

func (s *Server) setProfilePicture(c *fasthttp.RequestCtx, r *request) error {
	var b profilePictureBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	media, err := checkMedia(b.File, "image/")
	if err != nil {
		return err
	}
	media.Filename = ""
	return s.changeProfile(c, r, func(ctx context.Context, p provider.Profiler) error { return p.SetPicture(ctx, *media) })
}

func (s *Server) deleteProfilePicture(c *fasthttp.RequestCtx, r *request) error {
	return s.changeProfile(c, r, func(ctx context.Context, p provider.Profiler) error { return p.DeletePicture(ctx) })
}

// changeProfile runs a profile change on the path's session and answers WAHA's
// {"success": true}. A picture the transport refuses is 422 invalid_picture.
func (s *Server) changeProfile(c *fasthttp.RequestCtx, r *request, fn func(context.Context, provider.Profiler) error) error {
	err := session.Do(r.ctx, s.d.Sessions, r.tenant(), sessionName(c), provider.CapProfile, fn)
	if err := pictureError(err); err != nil {
		return err
	}
	if err != nil {
		return s.providerFailure(err)
	}
	return writeJSON(c, http.StatusOK, contactsResult{Success: true})
}

// pictureError answers a picture the transport refused (provider.ErrInvalidPicture)
// with 422 invalid_picture; nil for any other error.
func pictureError(err error) error {
	if errors.Is(err, provider.ErrInvalidPicture) {
		return unprocessable("invalid_picture", err.Error(), d("field", "file"))
	}
	return nil
}

// getMe answers the account the session last reported (any provider, any state);
// null when it has none (never linked, or logged out).
func (s *Server) getMe(c *fasthttp.RequestCtx, r *request) error {
	info, err := s.d.Sessions.Get(r.ctx, r.tenant(), sessionName(c))
	if err != nil {
		return err
	}
	if info.Me == nil {
		return writeJSON(c, http.StatusOK, nil)
	}
	return writeJSON(c, http.StatusOK, meInfo{ID: info.Me.ID, PushName: info.Me.PushName})
}
