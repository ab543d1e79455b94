package whatsmeow

import (
	"context"
	"time"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// Group notifications. whatsmeow reports WhatsApp's w:gp2 notifications as two events,
// which the provider turns into the contract's group.v2.* Notifications (provider
// Groups), as seen by this session:
//
//	JoinedGroup                 the session created a group, joined one or was added:
//	                            GroupJoin with the group as WhatsApp sent it
//	GroupInfo Join, self        GroupJoin, with the group read again (GetGroupInfo;
//	                            only its id if that fails)
//	GroupInfo Join, others      GroupParticipantsChange "join"
//	GroupInfo Leave, self       GroupLeave
//	GroupInfo Leave, others     GroupParticipantsChange "leave"
//	GroupInfo Promote, Demote   GroupParticipantsChange "promote", "demote"
//	GroupInfo Name, Topic,      one GroupUpdate with what changed (subject,
//	Locked, Announce            description, infoAdminOnly, messagesAdminOnly)
//	GroupInfo Delete            GroupLeave (the group is gone)
//
// Disappearing timers, invite link resets, community links and suspensions are not
// reported. A GroupJoin for a group already reported in the last joinDedup (WhatsApp
// may tell a joining device both ways) is not repeated. Timestamps are Unix
// milliseconds, WhatsApp's time of the change (now when it gave none).

// joinDedup is how long a GroupJoin is not repeated for the same group.
const joinDedup = time.Minute

// maxJoinsRemembered bounds the groups remembered for joinDedup; past it the memory
// starts over.
const maxJoinsRemembered = 256

// onGroupEvent reports a whatsmeow group event. It runs on the event goroutine.
func (r *run) onGroupEvent(ev any) {
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	switch ev := ev.(type) {
	case *events.JoinedGroup:
		ts := time.Now()
		if ev.Type == "new" && !ev.GroupCreated.IsZero() {
			ts = ev.GroupCreated
		}
		info, err := r.groupInfo(ctx, &ev.GroupInfo)
		if err != nil {
			return
		}
		r.joined(info, ts)
	case *events.GroupInfo:
		r.onGroupChange(ctx, ev)
	}
}

// joined reports GroupJoin, unless it was reported lately for the same group.
func (r *run) joined(info provider.GroupInfo, at time.Time) {
	now := time.Now()
	if last, ok := r.joins[info.ID]; ok && now.Sub(last) < joinDedup {
		return
	}
	if r.joins == nil || len(r.joins) >= maxJoinsRemembered {
		r.joins = map[chatid.ID]time.Time{}
	}
	r.joins[info.ID] = now
	r.emit(provider.GroupJoin{Timestamp: at.UnixMilli(), Group: info})
}

func (r *run) onGroupChange(ctx context.Context, ev *events.GroupInfo) {
	group, err := FromJID(ev.JID)
	if err != nil || group.Server != chatid.Group {
		return
	}
	at := ev.Timestamp
	if at.IsZero() {
		at = time.Now()
	}
	ts := at.UnixMilli()
	ref := provider.GroupRef{ID: group}
	var author chatid.ID
	if ev.Sender != nil {
		var alt types.JID
		if ev.SenderPN != nil {
			alt = *ev.SenderPN
		}
		author, _ = r.chatOf(ctx, ev.Sender.ToNonAD(), alt.ToNonAD())
	}

	self, others := r.splitSelf(ctx, ev.Join)
	if self {
		info := provider.GroupInfo{ID: group}
		if gc, ok := r.client.(groupClient); ok {
			if g, err := bounded(ctx, func() (*types.GroupInfo, error) { return gc.GetGroupInfo(ctx, ev.JID) }); err == nil {
				if full, err := r.groupInfo(ctx, g); err == nil {
					info = full
				}
			} else {
				r.p.log.Debug("whatsmeow group joined but not read", "group", group.String(), "err", err)
			}
		}
		r.joined(info, at)
	} else if len(others) > 0 {
		r.emit(participantsChange(ref, provider.ChangeJoin, ts, author, others, provider.RoleParticipant))
	}

	self, others = r.splitSelf(ctx, ev.Leave)
	if self {
		delete(r.joins, group)
		r.emit(provider.GroupLeave{Timestamp: ts, Group: ref})
	} else if len(others) > 0 {
		r.emit(participantsChange(ref, provider.ChangeLeave, ts, author, others, provider.RoleLeft))
	}
	if ids := r.userIDs(ctx, ev.Promote); len(ids) > 0 {
		r.emit(participantsChange(ref, provider.ChangePromote, ts, author, ids, provider.RoleAdmin))
	}
	if ids := r.userIDs(ctx, ev.Demote); len(ids) > 0 {
		r.emit(participantsChange(ref, provider.ChangeDemote, ts, author, ids, provider.RoleParticipant))
	}

	if ch, ok := groupChanges(group, ev); ok {
		r.emit(provider.GroupUpdate{Timestamp: ts, Group: ch, Author: author})
	}
	if ev.Delete != nil && ev.Delete.Deleted {
		delete(r.joins, group)
		r.emit(provider.GroupLeave{Timestamp: ts, Group: ref})
	}
}

// groupChanges returns the subject, description and settings changes of ev, and
// whether there is any.
func groupChanges(group chatid.ID, ev *events.GroupInfo) (provider.GroupChanges, bool) {
	ch := provider.GroupChanges{ID: group}
	changed := false
	if ev.Name != nil {
		name := ev.Name.Name
		ch.Subject, changed = &name, true
	}
	if ev.Topic != nil {
		topic := ev.Topic.Topic
		if ev.Topic.TopicDeleted {
			topic = ""
		}
		ch.Description, changed = &topic, true
	}
	if ev.Locked != nil {
		locked := ev.Locked.IsLocked
		ch.InfoAdminOnly, changed = &locked, true
	}
	if ev.Announce != nil {
		announce, can := ev.Announce.IsAnnounce, !ev.Announce.IsAnnounce
		ch.MessagesAdminOnly, ch.MembersCanSendMessages, changed = &announce, &can, true
	}
	return ch, changed
}

func participantsChange(ref provider.GroupRef, kind string, ts int64, author chatid.ID, ids []chatid.ID, role provider.GroupRole) provider.GroupParticipantsChange {
	ps := make([]provider.GroupParticipant, len(ids))
	for i, id := range ids {
		ps[i] = provider.GroupParticipant{ID: id, Role: role}
	}
	return provider.GroupParticipantsChange{Group: ref, Type: kind, Timestamp: ts, Participants: ps, Author: author}
}

// splitSelf reports whether the session is among jids, and returns the chat ids of the
// others.
func (r *run) splitSelf(ctx context.Context, jids []types.JID) (self bool, others []chatid.ID) {
	me := r.meID()
	var lid types.JID
	if r.device != nil {
		lid = r.device.LID.ToNonAD()
	}
	for _, j := range jids {
		j = j.ToNonAD()
		if !lid.IsEmpty() && j == lid {
			self = true
			continue
		}
		id, err := r.chatOf(ctx, j, types.JID{})
		if err != nil {
			continue
		}
		if !me.IsZero() && id == me {
			self = true
			continue
		}
		others = append(others, id)
	}
	return self, others
}

// userIDs returns the chat ids of jids, by phone number where known.
func (r *run) userIDs(ctx context.Context, jids []types.JID) []chatid.ID {
	var out []chatid.ID
	for _, j := range jids {
		if id, err := r.chatOf(ctx, j.ToNonAD(), types.JID{}); err == nil {
			out = append(out, id)
		}
	}
	return out
}
