package dovecot

import (
	"fmt"
	"testing"

	"github.com/tierfs/tierfs/test/integration/dovecot/dovecottest"
)

// mailbox is what a user's mailbox should hold: message bytes by
// Message-ID.
type mailbox map[string]dovecottest.Message

// deliveryUsers receive the corpus: user4 hashes to 09 and
// alice@example.com has a domain.
var deliveryUsers = []string{"alice", "bob", "user1", "user4", "alice@example.com", "carol"}

// corpusItem is one delivery: one message to one or more recipients.
type corpusItem struct {
	msg   dovecottest.Message
	rcpts []string
}

// corpus builds the deliveries for a run: perUser messages for each
// delivery user, sizes spread from a few hundred bytes to about 100 KiB,
// every seventh addressed to a second user too, plus three messages with
// multi-MiB attachments. tag keeps Message-IDs unique between batches.
func corpus(tag string, perUser int) []corpusItem {
	var items []corpusItem
	sizes := []int{200, 900, 3000, 12_000, 40_000, 100_000}
	n := 0
	for ui, u := range deliveryUsers {
		for i := range perUser {
			n++
			rcpts := []string{u}
			if n%7 == 0 {
				rcpts = append(rcpts, deliveryUsers[(ui+1)%len(deliveryUsers)])
			}
			spec := dovecottest.MessageSpec{
				ID:       fmt.Sprintf("%s-%d@dovecottest.invalid", tag, n),
				From:     "sender@example.net",
				To:       u,
				BodySize: sizes[(i*5+ui)%len(sizes)] + i*37,
				Seed:     uint64(n),
			}
			items = append(items, corpusItem{dovecottest.NewMessage(spec), rcpts})
		}
	}
	big := []struct {
		size  int
		rcpts []string
	}{
		{3 << 20, []string{"alice", "user4"}},
		{2 << 20, []string{"alice@example.com"}},
		{5 << 20, []string{"bob"}},
	}
	for i, b := range big {
		n++
		spec := dovecottest.MessageSpec{
			ID:         fmt.Sprintf("%s-big%d@dovecottest.invalid", tag, i),
			From:       "sender@example.net",
			To:         b.rcpts[0],
			BodySize:   2000,
			AttachSize: b.size,
			Seed:       uint64(n),
		}
		items = append(items, corpusItem{dovecottest.NewMessage(spec), b.rcpts})
	}
	return items
}

// deliver sends items over one LMTP connection and records them in want.
func deliver(t *testing.T, f *fixture, items []corpusItem, want map[string]mailbox) {
	t.Helper()
	if err := deliverItems(f, items); err != nil {
		t.Fatal(err)
	}
	record(items, want)
}

// deliverItems sends items over one LMTP connection; safe to call from
// any goroutine.
func deliverItems(f *fixture, items []corpusItem) error {
	l, err := dovecottest.DialLMTP(f.ctx, f.srv.LMTPAddr)
	if err != nil {
		return err
	}
	defer l.Close()
	for _, it := range items {
		if err := l.Deliver("sender@example.net", it.rcpts, it.msg.Bytes); err != nil {
			return fmt.Errorf("deliver %s: %w", it.msg.ID, err)
		}
	}
	return nil
}

// record adds delivered items to want.
func record(items []corpusItem, want map[string]mailbox) {
	for _, it := range items {
		for _, r := range it.rcpts {
			if want[r] == nil {
				want[r] = mailbox{}
			}
			want[r][it.msg.ID] = it.msg
		}
	}
}

// batch is n messages of varied sizes for user alone.
func batch(tag, user string, n int) []corpusItem {
	var items []corpusItem
	for i := range n {
		spec := dovecottest.MessageSpec{
			ID:       fmt.Sprintf("%s-%d@dovecottest.invalid", tag, i),
			From:     "sender@example.net",
			To:       user,
			BodySize: 100 + (i*7919)%60_000,
			Seed:     uint64(1000 + i),
		}
		items = append(items, corpusItem{dovecottest.NewMessage(spec), []string{user}})
	}
	return items
}
