// Package helm holds the tests of the Helm chart in gantry/: it is linted
// and rendered with Helm's own packages, and every rendered manifest is
// decoded strictly into its Kubernetes API type. The tests need the build
// tag chart: go test -tags chart ./deploy/helm.
package helm
