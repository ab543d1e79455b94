package whatsmeow

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	wm "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/appstate"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// Contacts, through whatsmeow:
//
//	ListContacts        the device's contact store (store.Contacts), LIDs mapped to
//	                    phone numbers where the LID map knows them, deduplicated
//	GetContact          the contact store, for one user
//	CheckNumber         Client.IsOnWhatsApp
//	About               Client.GetUserInfo (the user's status text)
//	ProfilePictureURL   Client.GetProfilePictureInfo, cached 24 hours per user
//	Block, Unblock      Client.UpdateBlocklist
//
// isBlocked comes from the block list, fetched once per connection (GetBlocklist) and
// kept up to date by Block, Unblock and WhatsApp's blocklist notifications.

// contactClient is the part of *whatsmeow.Client the contacts, profile and LID
// capabilities use. *whatsmeow.Client implements it; a Client that does not (a test
// fake without it) answers provider.ErrUnsupported.
type contactClient interface {
	IsOnWhatsApp(ctx context.Context, phones []string) ([]types.IsOnWhatsAppResponse, error)
	GetUserInfo(ctx context.Context, jids []types.JID) (map[types.JID]types.UserInfo, error)
	GetProfilePictureInfo(ctx context.Context, jid types.JID, params *wm.GetProfilePictureParams) (*types.ProfilePictureInfo, error)
	GetBlocklist(ctx context.Context) (*types.Blocklist, error)
	UpdateBlocklist(ctx context.Context, jid types.JID, action events.BlocklistChangeAction) (*types.Blocklist, error)
	SetStatusMessage(ctx context.Context, status types.SetStatusInput) error
	// SetGroupPhoto with the empty JID sets the account's own picture (no target).
	SetGroupPhoto(ctx context.Context, jid types.JID, avatar []byte) (string, error)
	SendAppState(ctx context.Context, patch appstate.PatchInfo) error
}

var _ contactClient = (*wm.Client)(nil)

// Bounds of the contact state.
const (
	// maxListedContacts bounds ListContacts.
	maxListedContacts = 50_000
	// pictureTTL is how long a picture URL is reused without asking WhatsApp (WAHA's
	// 24 hours; refresh skips it).
	pictureTTL = 24 * time.Hour
	// maxCachedPictures bounds the picture cache; past it, it starts over.
	maxCachedPictures = 2048
)

// contactState is the provider's contact cache: picture URLs and the block list. The
// zero value is ready; its lock is a leaf.
type contactState struct {
	mu       sync.Mutex
	pictures map[types.JID]cachedPicture
	// blocked is the block list of connection blockedOf; nil when not fetched.
	blocked   map[types.JID]struct{}
	blockedOf *run
}

type cachedPicture struct {
	url string
	at  time.Time
}

// contactRun returns the running connection and its client, or the error of a
// capability call.
func (p *Provider) contactRun(op string) (*run, contactClient, error) {
	r, ok := p.current()
	if !ok || !r.client.IsLoggedIn() {
		return nil, nil, p.errorf(op, provider.ErrNotConnected)
	}
	cc, ok := r.client.(contactClient)
	if !ok {
		return nil, nil, p.errorf(op, fmt.Errorf("the client has no contact calls: %w", provider.ErrUnsupported))
	}
	return r, cc, nil
}

// userJID returns the JID of a contact id: a user by phone number or LID.
func (p *Provider) userJID(op string, id chatid.ID) (types.JID, error) {
	if id.Server != chatid.User && id.Server != chatid.LID {
		return types.JID{}, p.errorf(op, fmt.Errorf("%s is not a user: %w", id, provider.ErrInvalidRecipient))
	}
	j, err := ToJID(id)
	if err != nil {
		return types.JID{}, p.errorf(op, fmt.Errorf("%w (%w)", provider.ErrInvalidRecipient, err))
	}
	return j, nil
}

// blocklist returns the block list of connection r, fetching it once.
func (p *Provider) blocklist(ctx context.Context, r *run, cc contactClient) (map[types.JID]struct{}, error) {
	st := &p.contacts
	st.mu.Lock()
	if st.blockedOf == r && st.blocked != nil {
		set := st.blocked
		st.mu.Unlock()
		return set, nil
	}
	st.mu.Unlock()
	list, err := bounded(ctx, func() (*types.Blocklist, error) { return cc.GetBlocklist(ctx) })
	if err != nil {
		return nil, err
	}
	return p.setBlocklist(r, list), nil
}

// setBlocklist replaces the cached block list with WhatsApp's answer.
func (p *Provider) setBlocklist(r *run, list *types.Blocklist) map[types.JID]struct{} {
	set := map[types.JID]struct{}{}
	if list != nil {
		for _, j := range list.JIDs {
			set[j.ToNonAD()] = struct{}{}
		}
	}
	st := &p.contacts
	st.mu.Lock()
	st.blocked, st.blockedOf = set, r
	st.mu.Unlock()
	return set
}

// isBlocked reports whether pn or lid (either may be empty) is on the block list.
func isBlocked(set map[types.JID]struct{}, pn, lid types.JID) bool {
	if _, ok := set[pn]; ok && !pn.IsEmpty() {
		return true
	}
	_, ok := set[lid]
	return ok && !lid.IsEmpty()
}

// contactInfo maps one entry of the contact store. pn and lid are the user's phone
// number and LID JIDs, either of which may be empty.
func (r *run) contactInfo(pn, lid types.JID, c types.ContactInfo, blocked map[types.JID]struct{}) provider.ContactInfo {
	var out provider.ContactInfo
	if !pn.IsEmpty() {
		out.ID, _ = FromJID(pn)
		out.Number = pn.User
	} else {
		out.ID, _ = FromJID(lid)
	}
	me := r.meID()
	out.Name, out.ShortName = c.FullName, c.FirstName
	out.Pushname = c.PushName
	if out.Pushname == "" {
		out.Pushname = c.BusinessName
	}
	out.IsMe = !me.IsZero() && out.ID == me
	out.IsUser = true
	out.IsWAContact = c.Found
	out.IsMyContact = c.FullName != "" || c.FirstName != ""
	out.IsBlocked = isBlocked(blocked, pn, lid)
	return out
}

// ListContacts implements provider.Contacts: the device's contact store. A contact
// stored under its LID is listed under its phone number when the LID map knows it, once.
func (p *Provider) ListContacts(ctx context.Context) ([]provider.ContactInfo, error) {
	r, cc, err := p.contactRun("listing contacts")
	if err != nil {
		return nil, err
	}
	blocked, err := p.blocklist(ctx, r, cc)
	if err != nil {
		return nil, p.errorf("listing contacts", err)
	}
	all, err := bounded(ctx, func() (map[types.JID]types.ContactInfo, error) { return r.device.Contacts.GetAllContacts(ctx) })
	if err != nil {
		return nil, p.errorf("listing contacts", err)
	}
	byID := make(map[chatid.ID]provider.ContactInfo, len(all))
	for j, c := range all {
		if len(byID) >= maxListedContacts {
			break
		}
		var pn, lid types.JID
		switch j.Server {
		case types.DefaultUserServer:
			pn = j
		case types.HiddenUserServer:
			lid = j
			if m, err := p.container.LIDMap.GetPNForLID(ctx, j); err == nil {
				pn = m
			}
		default:
			continue // bots, Messenger users: not contacts of the gateway
		}
		info := r.contactInfo(pn, lid, c, blocked)
		if info.ID.IsZero() {
			continue
		}
		if prev, ok := byID[info.ID]; ok {
			info = mergeContact(prev, info)
		}
		byID[info.ID] = info
	}
	out := make([]provider.ContactInfo, 0, len(byID))
	for _, c := range byID {
		out = append(out, c)
	}
	return out, nil
}

// mergeContact combines the entries of one user stored under its phone number and its
// LID: the non-empty fields win.
func mergeContact(a, b provider.ContactInfo) provider.ContactInfo {
	if a.Name == "" {
		a.Name, a.ShortName = b.Name, b.ShortName
	}
	if a.Pushname == "" {
		a.Pushname = b.Pushname
	}
	a.IsWAContact = a.IsWAContact || b.IsWAContact
	a.IsMyContact = a.IsMyContact || b.IsMyContact
	a.IsBlocked = a.IsBlocked || b.IsBlocked
	return a
}

// GetContact implements provider.Contacts, from the contact store: a user it does not
// know answers with IsWAContact false.
func (p *Provider) GetContact(ctx context.Context, id chatid.ID) (provider.ContactInfo, error) {
	const op = "getting a contact"
	r, cc, err := p.contactRun(op)
	if err != nil {
		return provider.ContactInfo{}, err
	}
	j, err := p.userJID(op, id)
	if err != nil {
		return provider.ContactInfo{}, err
	}
	pn, lid := p.pairOf(ctx, j)
	blocked, err := p.blocklist(ctx, r, cc)
	if err != nil {
		return provider.ContactInfo{}, p.errorf(op, err)
	}
	out, err := bounded(ctx, func() (provider.ContactInfo, error) {
		var out provider.ContactInfo
		for _, k := range []types.JID{pn, lid} {
			if k.IsEmpty() {
				continue
			}
			c, err := r.device.Contacts.GetContact(ctx, k)
			if err != nil {
				return out, err
			}
			if info := r.contactInfo(pn, lid, c, blocked); out.ID.IsZero() {
				out = info
			} else {
				out = mergeContact(out, info)
			}
		}
		return out, nil
	})
	if err != nil {
		return provider.ContactInfo{}, p.errorf(op, err)
	}
	return out, nil
}

// pairOf returns the phone number and LID JIDs of a user JID, the other one from the
// LID map when it knows it.
func (p *Provider) pairOf(ctx context.Context, j types.JID) (pn, lid types.JID) {
	if j.Server == types.HiddenUserServer {
		lid = j
		pn, _ = p.container.LIDMap.GetPNForLID(ctx, j)
		return pn, lid
	}
	pn = j
	lid, _ = p.container.LIDMap.GetLIDForPN(ctx, j)
	return pn, lid
}

// CheckNumber implements provider.Contacts with IsOnWhatsApp.
func (p *Provider) CheckNumber(ctx context.Context, phone string) (provider.NumberStatus, error) {
	const op = "checking a number"
	_, cc, err := p.contactRun(op)
	if err != nil {
		return provider.NumberStatus{}, err
	}
	res, err := bounded(ctx, func() ([]types.IsOnWhatsAppResponse, error) { return cc.IsOnWhatsApp(ctx, []string{"+" + phone}) })
	if err != nil {
		return provider.NumberStatus{}, p.errorf(op, err)
	}
	for _, r := range res {
		if !r.IsIn {
			continue
		}
		id, err := FromJID(r.JID.ToNonAD())
		if err != nil {
			continue
		}
		return provider.NumberStatus{NumberExists: true, ChatID: id}, nil
	}
	return provider.NumberStatus{}, nil
}

// About implements provider.Contacts with GetUserInfo.
func (p *Provider) About(ctx context.Context, id chatid.ID) (string, bool, error) {
	const op = "getting an about"
	_, cc, err := p.contactRun(op)
	if err != nil {
		return "", false, err
	}
	j, err := p.userJID(op, id)
	if err != nil {
		return "", false, err
	}
	infos, err := bounded(ctx, func() (map[types.JID]types.UserInfo, error) { return cc.GetUserInfo(ctx, []types.JID{j}) })
	if err != nil {
		return "", false, p.errorf(op, err)
	}
	for _, info := range infos {
		if info.Status != "" {
			return info.Status, true, nil
		}
	}
	return "", false, nil
}

// ProfilePictureURL implements provider.Contacts with GetProfilePictureInfo; an
// answer, a picture not set and one hidden by privacy settings alike, is kept
// pictureTTL.
func (p *Provider) ProfilePictureURL(ctx context.Context, id chatid.ID, refresh bool) (string, error) {
	const op = "getting a profile picture"
	_, cc, err := p.contactRun(op)
	if err != nil {
		return "", err
	}
	j, err := p.userJID(op, id)
	if err != nil {
		return "", err
	}
	return p.pictureURL(ctx, cc, j, refresh)
}

func (p *Provider) pictureURL(ctx context.Context, cc contactClient, j types.JID, refresh bool) (string, error) {
	st := &p.contacts
	now := time.Now()
	if !refresh {
		st.mu.Lock()
		c, ok := st.pictures[j]
		st.mu.Unlock()
		if ok && now.Sub(c.at) < pictureTTL {
			return c.url, nil
		}
	}
	info, err := bounded(ctx, func() (*types.ProfilePictureInfo, error) { return cc.GetProfilePictureInfo(ctx, j, nil) })
	url := ""
	switch {
	case errors.Is(err, wm.ErrProfilePictureNotSet), errors.Is(err, wm.ErrProfilePictureUnauthorized):
	case err != nil:
		return "", p.errorf("getting a profile picture", err)
	case info != nil:
		url = info.URL
	}
	st.mu.Lock()
	if st.pictures == nil || len(st.pictures) >= maxCachedPictures {
		st.pictures = map[types.JID]cachedPicture{}
	}
	st.pictures[j] = cachedPicture{url: url, at: now}
	st.mu.Unlock()
	return url, nil
}

// forgetPicture drops a cached picture (WhatsApp said it changed).
func (p *Provider) forgetPicture(j types.JID) {
	st := &p.contacts
	st.mu.Lock()
	delete(st.pictures, j)
	st.mu.Unlock()
}

// Block implements provider.Contacts with UpdateBlocklist.
func (p *Provider) Block(ctx context.Context, id chatid.ID) error {
	return p.updateBlocklist(ctx, "blocking", id, events.BlocklistChangeActionBlock)
}

// Unblock implements provider.Contacts with UpdateBlocklist.
func (p *Provider) Unblock(ctx context.Context, id chatid.ID) error {
	return p.updateBlocklist(ctx, "unblocking", id, events.BlocklistChangeActionUnblock)
}

func (p *Provider) updateBlocklist(ctx context.Context, op string, id chatid.ID, action events.BlocklistChangeAction) error {
	r, cc, err := p.contactRun(op)
	if err != nil {
		return err
	}
	j, err := p.userJID(op, id)
	if err != nil {
		return err
	}
	if me := r.meID(); !me.IsZero() && id == me {
		return p.errorf(op, fmt.Errorf("the session's own number: %w", provider.ErrNotAllowed))
	}
	list, err := bounded(ctx, func() (*types.Blocklist, error) { return cc.UpdateBlocklist(ctx, j, action) })
	if err != nil {
		return p.errorf(op, err)
	}
	p.setBlocklist(r, list)
	return nil
}

// onContactEvent reports what WhatsApp says of a contact's profile as a
// provider.ContactUpdate, and keeps the caches right:
//
//	PushName    a contact's new push name, seen on one of their messages
//	Picture     a user's new or removed picture (groups' pictures are not contacts)
//	UserAbout   a contact's new about text
//	Blocklist   the block list changed (on another device, or by this one)
func (r *run) onContactEvent(ev any) {
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	switch ev := ev.(type) {
	case *events.PushName:
		id, err := r.chatOf(ctx, ev.JID, ev.JIDAlt)
		if err != nil || id == r.meID() || ev.NewPushName == "" {
			return
		}
		var at time.Time
		if ev.Message != nil {
			at = ev.Message.Timestamp
		}
		r.emit(provider.ContactUpdate{ID: id, Change: provider.ChangePushname, Pushname: ev.NewPushName, Timestamp: contactMillis(at)})
	case *events.Picture:
		if ev.JID.Server != types.DefaultUserServer && ev.JID.Server != types.HiddenUserServer {
			return
		}
		r.p.forgetPicture(ev.JID.ToNonAD())
		id, err := r.chatOf(ctx, ev.JID, types.JID{})
		if err != nil {
			return
		}
		r.emit(provider.ContactUpdate{ID: id, Change: provider.ChangePicture, PictureID: ev.PictureID, Removed: ev.Remove, Timestamp: contactMillis(ev.Timestamp)})
	case *events.UserAbout:
		id, err := r.chatOf(ctx, ev.JID, types.JID{})
		if err != nil {
			return
		}
		r.emit(provider.ContactUpdate{ID: id, Change: provider.ChangeAbout, About: ev.Status, Timestamp: contactMillis(ev.Timestamp)})
	case *events.Blocklist:
		st := &r.p.contacts
		st.mu.Lock()
		switch {
		case st.blockedOf != r || st.blocked == nil:
		case ev.Action == events.BlocklistActionModify || len(ev.Changes) == 0:
			st.blocked = nil // fetched again when next needed
		default:
			for _, c := range ev.Changes {
				switch c.Action {
				case events.BlocklistChangeActionBlock:
					st.blocked[c.JID.ToNonAD()] = struct{}{}
				case events.BlocklistChangeActionUnblock:
					delete(st.blocked, c.JID.ToNonAD())
				}
			}
		}
		st.mu.Unlock()
	}
}

// contactMillis is t in Unix milliseconds, now when t is zero.
func contactMillis(t time.Time) int64 {
	if t.IsZero() {
		t = time.Now()
	}
	return t.UnixMilli()
}

var _ provider.Contacts = (*Provider)(nil)
