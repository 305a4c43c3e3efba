package dovecottest

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Message is a complete RFC 5322 message with CRLF line ends, as sent over
// LMTP and as IMAP returns it.
type Message struct {
	ID    string // Message-ID without angle brackets
	Bytes []byte
}

// MessageSpec describes a generated message.
type MessageSpec struct {
	ID         string // unique; becomes the Message-ID
	From, To   string
	BodySize   int // approximate size of the text part
	AttachSize int // bytes of binary attachment before base64; 0 for none
	Seed       uint64
}

// NewMessage generates the message spec describes. The same spec always
// gives the same bytes. Text lines are at most 78 characters, so no
// transfer encoding rewrites them.
func NewMessage(spec MessageSpec) Message {
	rng := rand.New(rand.NewPCG(spec.Seed, uint64(len(spec.ID))))
	var b bytes.Buffer
	date := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(spec.Seed%100000) * time.Minute)
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: test message %s\r\n", spec.From, spec.To, spec.ID)
	fmt.Fprintf(&b, "Date: %s\r\nMessage-ID: <%s>\r\nMIME-Version: 1.0\r\n", date.Format(time.RFC1123Z), spec.ID)
	if spec.AttachSize == 0 {
		b.WriteString("Content-Type: text/plain; charset=us-ascii\r\n\r\n")
		writeText(&b, rng, spec.BodySize)
		return Message{ID: spec.ID, Bytes: b.Bytes()}
	}
	const boundary = "=_dovecottest_boundary"
	fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=%q\r\n\r\n", boundary)
	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n", boundary)
	writeText(&b, rng, spec.BodySize)
	fmt.Fprintf(&b, "--%s\r\nContent-Type: application/octet-stream\r\n", boundary)
	fmt.Fprintf(&b, "Content-Disposition: attachment; filename=\"%s.bin\"\r\n", spec.ID)
	b.WriteString("Content-Transfer-Encoding: base64\r\n\r\n")
	raw := randomBytes(rng, spec.AttachSize)
	enc := base64.StdEncoding.EncodeToString(raw)
	for len(enc) > 76 {
		b.WriteString(enc[:76])
		b.WriteString("\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc)
	fmt.Fprintf(&b, "\r\n--%s--\r\n", boundary)
	return Message{ID: spec.ID, Bytes: b.Bytes()}
}

// writeText writes about n bytes of printable lines.
func writeText(b *bytes.Buffer, rng *rand.Rand, n int) {
	const alphabet = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 .,;"
	for written := 0; written < n || written == 0; {
		line := randomBytes(rng, 1+rng.IntN(72))
		for i, c := range line {
			line[i] = alphabet[int(c)%len(alphabet)]
		}
		// A line starting with "From " or "." is legal but needlessly
		// tests mbox/SMTP quirks, not the filesystem.
		line[0] = 'x'
		b.Write(line)
		b.WriteString("\r\n")
		written += len(line) + 2
	}
}

// randomBytes returns n bytes from rng, eight per draw: generating the
// multi-MiB attachments must stay cheap under the race detector.
func randomBytes(rng *rand.Rand, n int) []byte {
	out := make([]byte, n+8)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(out[i:], rng.Uint64())
	}
	return out[:n]
}

// StripTrace removes the header fields an MTA prepends on delivery
// (Return-Path, Received, Delivered-To) and nothing else.
func StripTrace(msg []byte) []byte {
	for {
		line, rest, ok := bytes.Cut(msg, []byte("\r\n"))
		if !ok {
			return msg
		}
		name, _, _ := bytes.Cut(line, []byte(":"))
		switch strings.ToLower(string(name)) {
		case "return-path", "received", "delivered-to":
		default:
			return msg
		}
		msg = rest
		for len(msg) > 0 && (msg[0] == ' ' || msg[0] == '\t') {
			_, msg, _ = bytes.Cut(msg, []byte("\r\n"))
		}
	}
}
