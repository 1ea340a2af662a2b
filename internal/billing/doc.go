// Package billing turns a consumer's metered usage for a calendar month
// into an invoice, priced by the plan's pricing in exact decimals: money
// never passes through a float.
//
// It is on the control path only: GET /admin/invoices/{consumer} and
// `gantry invoice` call it, reading the consumer from storage, the usage
// from the ledger and the plan from the running configuration. It does not
// meter, store or charge anything.
package billing
