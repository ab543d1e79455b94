package provider

import (
	"context"
	"strings"

	"github.com/wagate/wagate/core/chatid"
)

// Labeler is the capability CapLabels: WhatsApp Business labels, the session's own
// tags for chats ("New client", "Paid"). An account has at most MaxLabels of them;
// each chat carries any subset. Labels are the account's: every device of the number
// sees the same ones, and changes made on the phone arrive as Notifications.
//
// Ids are the transport's, opaque strings ("1", "12"). An unknown label id is
// ErrNotFound, wrapped. A personal (non-Business) account may refuse the calls with
// ErrNotAllowed.
//
// Every change — through these methods or made elsewhere — is reported to the session
// as Notifications: LabelUpsert (created or edited), LabelDeleted, LabelChatAdded and
// LabelChatDeleted (a label put on or taken off a chat).
type Labeler interface {
	// Labels returns the account's labels, in no particular order.
	Labels(ctx context.Context) ([]Label, error)
	// CreateLabel creates a label and returns it with its new id.
	CreateLabel(ctx context.Context, name string, color int) (Label, error)
	// UpdateLabel renames or recolours a label and returns it.
	UpdateLabel(ctx context.Context, id, name string, color int) (Label, error)
	// DeleteLabel deletes a label; the chats it was on lose it.
	DeleteLabel(ctx context.Context, id string) error
	// ChatLabels returns the labels on a chat.
	ChatLabels(ctx context.Context, chat chatid.ID) ([]Label, error)
	// SetChatLabels makes ids the chat's labels: those missing are added, the others
	// taken off (WAHA's PUT labels/chats/{chatId}). Unknown ids fail the call as a
	// whole, before any change.
	SetChatLabels(ctx context.Context, chat chatid.ID, ids []string) error
	// LabelChats returns the chats a label is on.
	LabelChats(ctx context.Context, id string) ([]chatid.ID, error)
}

// MaxLabels is how many labels a WhatsApp Business account may have.
const MaxLabels = 20

// MaxLabelName is the longest label name, in characters, WhatsApp's app accepts.
const MaxLabelName = 100

// Label is WAHA's Label: its colour as WhatsApp's colour number (0–19) and as the hex
// colour WhatsApp's apps currently draw it with.
type Label struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Color    int    `json:"color"`
	ColorHex string `json:"colorHex"`
}

// LabelColors is WhatsApp's label palette: colour number i is drawn as LabelColors[i]
// (the map WAHA documents; WhatsApp may change the shades, never the numbers).
var LabelColors = [...]string{
	"#ff9485", "#64c4ff", "#ffd429", "#dfaef0", "#99b6c1",
	"#55ccb3", "#ff9dff", "#d3a91d", "#6d7cce", "#d7e752",
	"#00d0e2", "#ffc5c7", "#93ceac", "#f74848", "#00a0f2",
	"#83e422", "#ffaf04", "#b5ebff", "#9ba6ff", "#9368cf",
}

// NewLabel returns the Label of an id, name and colour number, its ColorHex filled in
// ("" for a colour outside the palette).
func NewLabel(id, name string, color int) Label {
	l := Label{ID: id, Name: name, Color: color}
	if color >= 0 && color < len(LabelColors) {
		l.ColorHex = LabelColors[color]
	}
	return l
}

// LabelColorOf returns the colour number of a palette hex colour ("#64c4ff", any
// case), and false for a colour not in the palette.
func LabelColorOf(hex string) (int, bool) {
	for i, c := range LabelColors {
		if strings.EqualFold(c, hex) {
			return i, true
		}
	}
	return 0, false
}

// LabelUpsert is the Notification "label.upsert": a label was created or edited.
type LabelUpsert struct{ Label }

// LabelDeleted is the Notification "label.deleted": a label was deleted (WAHA sends
// its id, the name may be empty).
type LabelDeleted struct{ Label }

// LabelChat is the payload of "label.chat.added" and "label.chat.deleted", WAHA's
// LabelChatAssociation: the label, when the transport knows it, else null (right
// after linking, before the labels have synced).
type LabelChat struct {
	LabelID string    `json:"labelId"`
	ChatID  chatid.ID `json:"chatId"`
	Label   *Label    `json:"label"`
}

// LabelChatAdded is the Notification "label.chat.added": a label was put on a chat.
type LabelChatAdded struct{ LabelChat }

// LabelChatDeleted is the Notification "label.chat.deleted": a label was taken off a
// chat.
type LabelChatDeleted struct{ LabelChat }

// EventName implements Notification.
func (LabelUpsert) EventName() string { return "label.upsert" }

// EventName implements Notification.
func (LabelDeleted) EventName() string { return "label.deleted" }

// EventName implements Notification.
func (LabelChatAdded) EventName() string { return "label.chat.added" }

// EventName implements Notification.
func (LabelChatDeleted) EventName() string { return "label.chat.deleted" }

func (LabelUpsert) providerEvent()      {}
func (LabelDeleted) providerEvent()     {}
func (LabelChatAdded) providerEvent()   {}
func (LabelChatDeleted) providerEvent() {}
