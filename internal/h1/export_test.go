package h1

// AppendHead is appendHead, for the external tests (outbound_test.go) that
// need packages importing h1.
var AppendHead = appendHead
