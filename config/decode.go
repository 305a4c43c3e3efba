package config

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// decodeError turns a failed decode into "SOURCE: FIELD: REASON" errors.
// toml stops at the first value of the wrong type and names it by its
// table only ("rule.demote_after", not which rule), so every value is
// decoded again on its own to find each bad one with its index. A syntax
// error, which has no field, is returned as toml reports it.
func decodeError(source string, data []byte, err error) error {
	var doc map[string]toml.Primitive
	md, derr := toml.Decode(string(data), &doc)
	if derr != nil {
		return &FieldError{Source: source, Err: derr}
	}
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(doc)) {
		if f, ok := fieldByTag(reflect.TypeFor[Config](), k); ok {
			errs = append(errs, badValues(&md, source, k, f.Type, doc[k])...)
		}
	}
	if len(errs) == 0 { // not found again: report what toml said
		return &FieldError{Source: source, Err: err}
	}
	return errors.Join(errs...)
}

var unmarshalerType = reflect.TypeFor[toml.Unmarshaler]()

// badValues decodes p, the value of field name, into a new typ, one
// array element and one table key at a time, and returns an error for
// each value that does not decode.
func badValues(md *toml.MetaData, source, name string, typ reflect.Type, p toml.Primitive) []error {
	leaf := reflect.PointerTo(typ).Implements(unmarshalerType)
	switch {
	case !leaf && typ.Kind() == reflect.Slice && typ.Elem().Kind() == reflect.Struct:
		var elems []toml.Primitive
		if err := md.PrimitiveDecode(p, &elems); err != nil {
			return []error{fieldError(source, name, err)}
		}
		var errs []error
		for i, e := range elems {
			errs = append(errs, badValues(md, source, fmt.Sprintf("%s[%d]", name, i+1), typ.Elem(), e)...)
		}
		return errs
	case !leaf && typ.Kind() == reflect.Struct:
		var table map[string]toml.Primitive
		if err := md.PrimitiveDecode(p, &table); err != nil {
			return []error{fieldError(source, name, err)}
		}
		var errs []error
		for _, k := range slices.Sorted(maps.Keys(table)) {
			if f, ok := fieldByTag(typ, k); ok { // unknown keys are reported elsewhere
				errs = append(errs, badValues(md, source, name+"."+k, f.Type, table[k])...)
			}
		}
		return errs
	}
	if err := md.PrimitiveDecode(p, reflect.New(typ).Interface()); err != nil {
		return []error{fieldError(source, name, err)}
	}
	return nil
}

// fieldByTag finds the field of struct typ (embedded ones included) that
// TOML key k decodes into.
func fieldByTag(typ reflect.Type, k string) (reflect.StructField, bool) {
	for _, f := range reflect.VisibleFields(typ) {
		if name, _, _ := strings.Cut(f.Tag.Get("toml"), ","); name == k && !f.Anonymous {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// fieldError is err, a decode error of one value, as a field error: the
// reason without toml's "toml: line N (last key ...)" prefix, which the
// field name replaces.
func fieldError(source, field string, err error) *FieldError {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return &FieldError{Source: source, Field: field, Err: errors.New(pe.Message)}
	}
	msg := err.Error()
	if _, reason, ok := strings.Cut(msg, "): "); ok && strings.HasPrefix(msg, "toml: ") {
		msg = reason
	}
	return &FieldError{Source: source, Field: field, Err: errors.New(msg)}
}
