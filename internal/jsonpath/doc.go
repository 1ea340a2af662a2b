// Package jsonpath parses the paths of JSON body transforms ("meta.channel",
// "items[].cost") and applies remove, rename and set to a decoded JSON
// document. It is the rule package config validates the paths with and the
// transform plugin runs them with, so both read a path the same way.
//
// It sits below both paths' users: control (config.Validate parses every
// path of a route's transform) and request (the transform step applies the
// parsed paths to each body). It does no I/O and knows nothing of HTTP.
//
// Grammar: a path is names separated by '.'; a name may be followed by
// one or more "[]", which step into every element of an array; a path may
// start with "[]" for a document that is an array. A backslash makes the
// next character part of a name ("a\.b" is the one key "a.b"). A path ends
// with a name: that key is what the operation removes, renames or sets.
package jsonpath
