package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// ListRule is a rule's tier and demote_to as the config names them
// (one tier is a list of one), keyed by its match: reordering rules
// changes no ListRule.
type ListRule struct {
	Match    string   `json:"match"`
	Tier     []string `json:"tier"`
	DemoteTo []string `json:"demote_to,omitempty"`
}

func (l ListRule) same(o ListRule) bool {
	return l.Match == o.Match && slices.Equal(l.Tier, o.Tier) && slices.Equal(l.DemoteTo, o.DemoteTo)
}

// PendingRebalance is a rule's lists before a change, kept until the
// rebalance from them is finished.
type PendingRebalance struct {
	ListRule
	Since time.Time `json:"since"` // when a mount or reload first saw the change
}

// Key names the entry for OldLists.Key.
func (p PendingRebalance) Key() string {
	return fmt.Sprintf("%s tier=%s demote_to=%s since=%s", p.Match, strings.Join(p.Tier, ","),
		strings.Join(p.DemoteTo, ","), p.Since.UTC().Format(time.RFC3339Nano))
}

// RebalanceRecord is what a mount records: the lists of its rules, and
// the older lists whose rebalance has not finished.
type RebalanceRecord struct {
	Lists   []ListRule         `json:"lists"`
	Pending []PendingRebalance `json:"pending,omitempty"`
}

// MergeRebalance returns the record for rules cur given the records
// read back (one per copy, nil where there was none): every pending
// entry of any copy stays, and a recorded rule whose lists differ from
// cur's, or whose match cur lacks, becomes pending since now. Copies
// that disagree (a crash between writing them) thus merge to the larger
// pending set. An entry equal to cur's rule of its match adds nothing
// and goes.
func MergeRebalance(recs []*RebalanceRecord, cur []ListRule, now time.Time) RebalanceRecord {
	out := RebalanceRecord{Lists: slices.Clone(cur)}
	for _, r := range recs {
		if r != nil {
			for _, p := range r.Pending {
				out.addPending(p)
			}
		}
	}
	for _, r := range recs {
		if r == nil {
			continue
		}
		for _, l := range r.Lists {
			if c, ok := findList(cur, l.Match); !ok || !c.same(l) {
				out.addPending(PendingRebalance{ListRule: l, Since: now})
			}
		}
	}
	out.Pending = slices.DeleteFunc(out.Pending, func(p PendingRebalance) bool {
		c, ok := findList(cur, p.Match)
		return ok && c.same(p.ListRule)
	})
	return out
}

// addPending adds p unless an entry has its lists, which then keeps the
// earlier time.
func (r *RebalanceRecord) addPending(p PendingRebalance) {
	for i := range r.Pending {
		if q := &r.Pending[i]; q.same(p.ListRule) {
			if p.Since.Before(q.Since) {
				q.Since = p.Since
			}
			return
		}
	}
	r.Pending = append(r.Pending, p)
}

// WithoutPending returns r less the pending entries whose Key is in
// keys (a finished rebalance).
func (r RebalanceRecord) WithoutPending(keys []string) RebalanceRecord {
	r.Pending = slices.DeleteFunc(slices.Clone(r.Pending), func(p PendingRebalance) bool { return slices.Contains(keys, p.Key()) })
	return r
}

// findList returns the first rule of ls with match m.
func findList(ls []ListRule, m string) (ListRule, bool) {
	for _, l := range ls {
		if l.Match == m {
			return l, true
		}
	}
	return ListRule{}, false
}
