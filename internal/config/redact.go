package config

import (
	"reflect"
	"regexp"
	"strings"
)

// redactedText is what replaces a secret in a redacted config.
const redactedText = "[redacted]"

// Redacted returns a deep copy of c with secrets replaced by "[redacted]":
// the admin token, JWT secrets, plaintext API keys, and passwords in the
// storage DSN, Redis URL and usage export URL. The admin API shows this
// copy; c is not changed.
func (c *Config) Redacted() *Config {
	cp := deepCopy(reflect.ValueOf(c)).Interface().(*Config)
	redact(&cp.Admin.Token)
	for _, j := range cp.Auth.JWT {
		if j != nil {
			redact(&j.Secret)
		}
	}
	for _, co := range cp.Consumers {
		if co == nil {
			continue
		}
		for i := range co.APIKeys {
			redact(&co.APIKeys[i].Key)
		}
	}
	cp.Storage.DSN = redactURL(cp.Storage.DSN)
	cp.Counters.RedisURL = redactURL(cp.Counters.RedisURL)
	if e := cp.Usage.Export; e != nil {
		e.URL = redactURL(e.URL)
		redact(&e.Token)
	}
	cp.redactTelemetry()
	return cp
}

func redact(s *string) {
	if *s != "" {
		*s = redactedText
	}
}

var dsnPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('[^']*'|\S+)`)

// redactURL hides the password in scheme://user:password@host URLs and in
// key=value DSNs ("host=db password=secret").
func redactURL(s string) string {
	s = dsnPassword.ReplaceAllString(s, "${1}"+redactedText)
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	authority, path := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, path = rest[:i], rest[i:]
	}
	at := strings.LastIndexByte(authority, '@')
	if at < 0 {
		return s
	}
	user, _, hasPassword := strings.Cut(authority[:at], ":")
	if !hasPassword {
		return s
	}
	return scheme + "://" + user + ":" + redactedText + authority[at:] + path
}

// deepCopy copies v and everything it points to. Config holds only
// pointers, slices, maps, structs and scalars, without cycles.
func deepCopy(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		out := reflect.New(v.Type().Elem())
		out.Elem().Set(deepCopy(v.Elem()))
		return out
	case reflect.Struct:
		out := reflect.New(v.Type()).Elem()
		for i := range v.NumField() {
			if out.Field(i).CanSet() {
				out.Field(i).Set(deepCopy(v.Field(i)))
			}
		}
		return out
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			out.Index(i).Set(deepCopy(v.Index(i)))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeMapWithSize(v.Type(), v.Len())
		iter := v.MapRange()
		for iter.Next() {
			out.SetMapIndex(iter.Key(), deepCopy(iter.Value()))
		}
		return out
	}
	return v
}
