// Package apijson writes the JSON answers of the gateway's own HTTP APIs,
// the admin API and the consumer portal, and of the Host/Origin guard in
// front of them: values indented, never cached, and errors in one shape,
// {"status": 403, "error": "forbidden", "message": "..."}. It imports
// nothing of the gateway's.
package apijson
