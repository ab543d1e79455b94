// Package wastore keeps whatsmeow's device state in the gateway's Badger store: it
// implements every interface of whatsmeow's store package (store.AllStores) with the
// semantics of whatsmeow's own sqlstore, and a Container with sqlstore.Container's
// methods. One Container holds the devices of one gateway session.
//
//	c, err := wastore.New(db, tenantID, sessionName, log)
//	device, err := c.GetFirstDevice(ctx) // a new, unsaved device until one is paired
//	client := whatsmeow.NewClient(device, log)
//
// # Keys
//
// Everything is below wam/<tenant>/<session>/, so deleting a tenant or a session
// deletes its whatsmeow state (store.TenantPrefixes, store.SessionPrefixes):
//
//	wam/<t>/<s>/dev/<device jid>/rec                        device record (keys, account, names)
//	wam/<t>/<s>/dev/<device jid>/idk/<address>              identity key
//	wam/<t>/<s>/dev/<device jid>/ses/<address>              Signal session
//	wam/<t>/<s>/dev/<device jid>/pre/<id: 8 hex>            one-time prekey
//	wam/<t>/<s>/dev/<device jid>/sk/<sender address>/<group> sender key
//	wam/<t>/<s>/dev/<device jid>/ask/<key id: hex>          app state sync key
//	wam/<t>/<s>/dev/<device jid>/asv/<name>                 app state version and hash
//	wam/<t>/<s>/dev/<device jid>/asm/<name>/<index MAC: hex>/<version: 16 hex>  value MAC
//	wam/<t>/<s>/dev/<device jid>/ct/<jid>                   contact names
//	wam/<t>/<s>/dev/<device jid>/cs/<chat jid>              chat settings
//	wam/<t>/<s>/dev/<device jid>/ms/<chat>/<sender>/<message id>  message secret
//	wam/<t>/<s>/dev/<device jid>/pt/<jid>                   privacy token
//	wam/<t>/<s>/dev/<device jid>/evb/<ciphertext hash: hex> buffered decrypted event
//	wam/<t>/<s>/dev/<device jid>/evi/<insert ms: 16 hex>/<hash: hex>  its age index
//	wam/<t>/<s>/dev/<device jid>/nct                        NCT salt (cstoken derivation)
//	wam/<t>/<s>/dev/<device jid>/rtb/<chat jid>/<message id> sent message kept for retry receipts
//	wam/<t>/<s>/dev/<device jid>/rti/<insert ms: 16 hex>/<chat jid>/<message id>  its age index
//	wam/<t>/<s>/lid/<lid user>                              phone number user of a LID
//	wam/<t>/<s>/pn/<phone number user>                      LID user of a phone number
//
// A device is everything below its dev/<device jid>/ prefix, so DeleteDevice is a
// prefix delete. Text parts (JIDs, addresses, names, message ids) are percent-encoded:
// '%' is %25 and '/' is %2F, nothing else changes, and the empty string is "%". The
// encoding works byte by byte, so the addresses of one phone number, "<user>:<device>",
// are one key prefix. Binary parts are lowercase hex ("-" when empty), numbers
// fixed-width hex, so key order is numeric order.
//
// Values are the raw blobs whatsmeow hands over (sessions, sender keys, identity keys,
// MACs, message secrets, the NCT salt, map entries) or store.JSONCodec records.
//
// # Transactions
//
// Every method runs in one Badger transaction, retried on conflict. Transactions of
// any containers of one DB that start while another one commits share one commit (and
// one disk sync with store.sync_writes): see committer in commit.go. DoDecryptionTxn
// carries one read-write transaction in its context: every method called with that
// context reads and writes through it, and it commits when the function returns nil.
// See DoDecryptionTxn and docs/whatsmeow.md for where this store differs from
// sqlstore.
//
// # Replication
//
// In cluster mode a session's state follows the session from node to node: with a
// Replicator registered for the session (SetReplicator; core/cluster/wamsync keeps the
// copy in JetStream), the session's transactions run one at a time, outside the group
// commit, and each one's writes go to the replicator before the Badger transaction
// commits; a refused write is not committed and its error is returned. A new owner
// makes its local copy equal to the replica with Restore before the session starts.
// The contract is Replicator's documentation (replica.go) and docs/cluster.md. With no
// replicator registered nothing changes.
package wastore
