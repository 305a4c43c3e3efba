package dovecottest

import "regexp"

// messageFile matches the message files of each mail format.
var messageFile = map[string]*regexp.Regexp{
	"maildir": regexp.MustCompile(`/(cur|new)/[0-9]+\.[^/]+$`),
	"sdbox":   regexp.MustCompile(`/dbox-Mails/u\.[0-9]+$`),
	"mdbox":   regexp.MustCompile(`/storage/m\.[0-9]+$`),
}

// IsMessageFile reports whether path is a message file of format
// (maildir, sdbox or mdbox): the files the mover ages to the slow tier.
func IsMessageFile(format, path string) bool {
	re, ok := messageFile[format]
	return ok && re.MatchString(path)
}
