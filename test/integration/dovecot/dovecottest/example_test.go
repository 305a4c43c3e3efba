package dovecottest_test

import (
	"context"
	"log"

	"github.com/tierfs/tierfs/test/integration/dovecot/dovecottest"
)

// Example mounts tierfs over fresh tiers, starts Dovecot on it with the
// settings tierfs prints for mdbox, and delivers one message. It needs
// root and a built tierfs binary, so it is compiled but not run.
func Example() {
	ctx := context.Background()
	store, err := dovecottest.NewStorage(ctx, dovecottest.StorageOptions{
		Kind:      dovecottest.KindTierfs,
		TierfsBin: "/path/to/tierfs",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close() // after the server: Dovecot must stop first
	settings, err := store.DovecotSettings(ctx, "mdbox")
	if err != nil {
		log.Fatal(err)
	}
	srv, err := dovecottest.Start(ctx, dovecottest.Options{
		MailSettings: settings,
		Users:        []dovecottest.User{{Name: "alice", Password: "secret"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	lmtp, err := dovecottest.DialLMTP(ctx, srv.LMTPAddr)
	if err != nil {
		log.Fatal(err)
	}
	defer lmtp.Close()
	msg := dovecottest.NewMessage(dovecottest.MessageSpec{
		ID: "1@example.invalid", From: "bob@example.net", To: "alice", BodySize: 4096,
	})
	if err := lmtp.Deliver("bob@example.net", []string{"alice"}, msg.Bytes); err != nil {
		log.Fatal(err)
	}
	imap, err := dovecottest.DialIMAP(srv.IMAPAddr, "alice", "secret", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer imap.Close()
}
