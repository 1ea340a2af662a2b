//go:build chart

// The chart's tests build Helm and the Kubernetes API types, the largest
// compile in the module, so they sit behind the chart build tag and run
// once, without the race detector, in .ci/run: go test -tags chart
// ./deploy/helm.

package helm

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/loader"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/server"
)

const chartDir = "gantry"

// manifests is one rendering of the chart, decoded strictly: a field the
// Kubernetes API type does not have fails the test.
type manifests struct {
	deployment     *appsv1.Deployment
	configMap      *corev1.ConfigMap
	secrets        map[string]*corev1.Secret
	services       map[string]*corev1.Service
	pdb            *policyv1.PodDisruptionBudget
	hpa            *autoscalingv2.HorizontalPodAutoscaler
	serviceMonitor map[string]any
}

// TestChartLint is `helm lint --strict`, with the default values and with
// the three-replica Redis and PostgreSQL values.
func TestChartLint(t *testing.T) {
	for _, file := range []string{"", "testdata/ha-values.yaml"} {
		t.Run("values="+file, func(t *testing.T) {
			l := lint.RunAll(chartDir, readValues(t, file), "gateway")
			for _, m := range l.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("helm lint: %s", m)
				}
			}
		})
	}
}

// TestChartDefaults renders the chart as `helm template` does with no
// values: one replica on SQLite and in-memory counters.
func TestChartDefaults(t *testing.T) {
	m := render(t, "")
	d := m.deployment
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("replicas = %v, want 1", d.Spec.Replicas)
	}
	if m.hpa != nil || m.serviceMonitor != nil {
		t.Error("the HPA and the ServiceMonitor are rendered though not enabled")
	}
	if m.pdb == nil || m.pdb.Spec.MaxUnavailable == nil || m.pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("PodDisruptionBudget = %+v, want maxUnavailable 1", m.pdb)
	}
	env := m.podEnv(t)
	if len(env["GANTRY_ADMIN_TOKEN"]) < 32 {
		t.Errorf("generated admin token %q, want 32 characters or more", env["GANTRY_ADMIN_TOKEN"])
	}
	cfg := m.checkPod(t, env)
	if cfg.Storage.Driver != "sqlite" || cfg.Storage.DSN != "/var/lib/gantry/gantry.db" || cfg.Counters.Driver != "memory" {
		t.Errorf("storage %+v, counters %+v; want sqlite on the data volume and memory", cfg.Storage, cfg.Counters)
	}
	if !hasMount(d, "data", "/var/lib/gantry") {
		t.Error("no data volume at /var/lib/gantry for the SQLite file")
	}
	aa := d.Spec.Template.Spec.Affinity
	if aa == nil || aa.PodAntiAffinity == nil || len(aa.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Errorf("affinity = %+v, want a preferred pod anti-affinity", aa)
	}
}

// TestChartThreeReplicas renders testdata/ha-values.yaml: three replicas
// sharing Redis counters and PostgreSQL storage, DSNs from the Secret.
func TestChartThreeReplicas(t *testing.T) {
	m := render(t, "testdata/ha-values.yaml")
	d := m.deployment
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("replicas = %v, want 3", d.Spec.Replicas)
	}
	if got := d.Spec.Template.Spec.Containers[0].Image; got != "registry.example.com/platform/gantry:v0.1.0" {
		t.Errorf("image = %q", got)
	}
	env := m.podEnv(t)
	want := map[string]string{
		"GANTRY_ADMIN_TOKEN": "3f9c1e7a-admin",
		"GANTRY_STORAGE_DSN": "postgres://gantry:pg-pass@postgres.data.svc:5432/gantry?sslmode=require",
		"GANTRY_REDIS_URL":   "redis://:redis-pass@redis.data.svc:6379/0",
		"ORDERS_JWT_SECRET":  "hs256-orders-secret-0123456789abcdef",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("pod environment %s = %q, want %q", k, env[k], v)
		}
	}
	text := m.configMap.Data["gantry.yaml"]
	for _, secret := range want {
		if strings.Contains(text, secret) {
			t.Errorf("the ConfigMap holds the secret %q; it belongs in the Secret", secret)
		}
	}
	cfg := m.checkPod(t, env)
	if cfg.Storage.Driver != "postgres" || cfg.Storage.DSN != want["GANTRY_STORAGE_DSN"] {
		t.Errorf("storage = %+v, want postgres with the Secret's DSN", cfg.Storage)
	}
	if cfg.Counters.Driver != "redis" || cfg.Counters.RedisURL != want["GANTRY_REDIS_URL"] || cfg.Counters.Sync != "batched" {
		t.Errorf("counters = %+v, want redis, batched, with the Secret's URL", cfg.Counters)
	}
	if cfg.Plans["gold"].Quota.Requests != 1000000 || cfg.Server.Limits.MaxConnections != 20000 {
		t.Errorf("numbers from values changed on the way: quota %d, max_connections %d", cfg.Plans["gold"].Quota.Requests, cfg.Server.Limits.MaxConnections)
	}
	if len(cfg.Routes) != 1 || cfg.Routes[0].Upstream != "orders" {
		t.Errorf("routes = %+v, want the orders route of the values", cfg.Routes)
	}
	if cfg.Server.ShutdownGrace.String() != "30s" || cfg.Server.DrainDelay.String() != "10s" {
		t.Errorf("shutdown_grace %v, drain_delay %v; want 30s and 10s", cfg.Server.ShutdownGrace, cfg.Server.DrainDelay)
	}
	if !hasMount(d, "keys", "/etc/gantry-keys") || m.secrets["edge-gantry-files"] == nil {
		t.Error("secrets.files is not mounted at /etc/gantry-keys")
	}
	aa := d.Spec.Template.Spec.Affinity
	if aa == nil || aa.PodAntiAffinity == nil || len(aa.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Errorf("affinity = %+v, want a required pod anti-affinity", aa)
	}

	sm := m.serviceMonitor
	if sm == nil {
		t.Fatal("no ServiceMonitor")
	}
	admin := m.services["edge-gantry-admin"]
	if admin == nil {
		t.Fatal("no admin Service")
	}
	selector, _ := dig(sm, "spec", "selector", "matchLabels").(map[string]any)
	for k, v := range selector {
		if admin.Labels[k] != v {
			t.Errorf("ServiceMonitor selects %s=%v; the admin Service has %q", k, v, admin.Labels[k])
		}
	}
	if m.services["edge-gantry"].Labels["app.kubernetes.io/component"] == "admin" {
		t.Error("the ServiceMonitor's selector also matches the gateway's Service")
	}
	eps, _ := dig(sm, "spec", "endpoints").([]any)
	if len(eps) != 1 || dig(eps[0], "port") != "admin" || dig(eps[0], "path") != "/metrics" {
		t.Errorf("ServiceMonitor endpoints = %v, want port admin, path /metrics", eps)
	}
	if dig(sm, "metadata", "labels", "release") != "prometheus" {
		t.Errorf("ServiceMonitor labels = %v, want serviceMonitor.labels", dig(sm, "metadata", "labels"))
	}
}

// TestChartAutoscaling: with the HPA the Deployment leaves replicas to it.
func TestChartAutoscaling(t *testing.T) {
	vals := readValues(t, "testdata/ha-values.yaml")
	vals["autoscaling"] = map[string]any{"enabled": true, "minReplicas": 3, "maxReplicas": 12, "targetCPUUtilizationPercentage": 60}
	m := renderValues(t, vals)
	if m.deployment.Spec.Replicas != nil {
		t.Errorf("replicas = %d with autoscaling, want it unset", *m.deployment.Spec.Replicas)
	}
	h := m.hpa
	if h == nil {
		t.Fatal("no HorizontalPodAutoscaler")
	}
	if h.Spec.ScaleTargetRef.Name != m.deployment.Name || *h.Spec.MinReplicas != 3 || h.Spec.MaxReplicas != 12 {
		t.Errorf("HPA spec = %+v", h.Spec)
	}
}

// TestChartRefuses: values that cannot work fail the rendering with a
// message saying why.
func TestChartRefuses(t *testing.T) {
	tests := []struct {
		name string
		set  map[string]any
		want string
	}{
		{"replicas on sqlite", map[string]any{"replicaCount": 3}, "needs storage.driver postgres"},
		{"postgres without a DSN", map[string]any{"storage": map[string]any{"driver": "postgres"}}, "needs secrets.storageDSN"},
		{"redis without a URL", map[string]any{"counters": map[string]any{"driver": "redis"}}, "needs secrets.redisURL"},
		{"grace period too short", map[string]any{"gateway": map[string]any{"terminationGracePeriodSeconds": 20}}, "must be above shutdownGraceSeconds + drainDelaySeconds (20)"},
		{"unknown storage", map[string]any{"storage": map[string]any{"driver": "mysql"}}, `storage.driver "mysql"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := renderFiles(t, tt.set)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("render error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// checkPod checks what every rendering must hold and returns the gateway's
// config as the pod would load it with env.
func (m *manifests) checkPod(t *testing.T, env map[string]string) *config.Config {
	t.Helper()
	d := m.deployment
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}

	for k, v := range env {
		t.Setenv(k, v)
	}
	text := m.configMap.Data["gantry.yaml"]
	cfg, err := config.Parse([]byte(text), "gantry.yaml")
	if err != nil {
		t.Fatalf("the ConfigMap's gantry.yaml does not load:\n%v\n%s", err, text)
	}
	if _, err := server.Check(cfg); err != nil {
		t.Fatalf("gantry validate fails on the ConfigMap's gantry.yaml:\n%v\n%s", err, text)
	}
	if want := fmt.Sprintf("0.0.0.0:%d", ports["http"]); cfg.Server.Listen != want {
		t.Errorf("server.listen = %q, want %q (the container's http port)", cfg.Server.Listen, want)
	}
	if want := fmt.Sprintf("0.0.0.0:%d", ports["admin"]); cfg.Admin.Listen != want {
		t.Errorf("admin.listen = %q, want %q (the container's admin port)", cfg.Admin.Listen, want)
	}
	if cfg.Admin.Token != env["GANTRY_ADMIN_TOKEN"] {
		t.Errorf("admin.token = %q, want the Secret's", cfg.Admin.Token)
	}

	probes := []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}, {"startup", c.StartupProbe, "/healthz"}}
	for _, p := range probes {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.String() != "admin" {
			t.Errorf("%s probe = %+v, want GET %s on the admin port", p.name, p.probe, p.path)
		}
	}

	grace := time.Duration(cfg.Server.ShutdownGrace) + time.Duration(cfg.Server.DrainDelay)
	if pod.TerminationGracePeriodSeconds == nil || time.Duration(*pod.TerminationGracePeriodSeconds)*time.Second <= grace {
		t.Errorf("terminationGracePeriodSeconds = %v, want above drain_delay + shutdown_grace = %v", pod.TerminationGracePeriodSeconds, grace)
	}

	// The config is a directory mount (no subPath) so the kubelet's ..data
	// swap reaches the pod and the gateway's watcher reloads it.
	found := false
	for _, vm := range c.VolumeMounts {
		if vm.Name == "config" {
			found = vm.MountPath == "/etc/gantry" && vm.SubPath == ""
		}
	}
	if !found || !slices.Contains(c.Args, "--config=/etc/gantry/gantry.yaml") {
		t.Errorf("config mount %+v, args %v; want the ConfigMap as the directory /etc/gantry", c.VolumeMounts, c.Args)
	}
	if _, ok := d.Spec.Template.Annotations["checksum/config"]; ok {
		t.Error("a config checksum on the pod template restarts the pods for a change that reloads in place")
	}

	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("container securityContext = %+v, want a read-only root and no privilege escalation", sc)
	}
	if ps := pod.SecurityContext; ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.RunAsUser == nil || *ps.RunAsUser != 65532 {
		t.Errorf("pod securityContext = %+v, want non-root 65532 (the image's user)", ps)
	}

	sel := d.Spec.Selector.MatchLabels
	for name, s := range m.services {
		for k, v := range s.Spec.Selector {
			if sel[k] != v {
				t.Errorf("Service %s selects %s=%s, the pods have %q", name, k, v, sel[k])
			}
		}
		for _, p := range s.Spec.Ports {
			if _, ok := ports[p.TargetPort.String()]; !ok {
				t.Errorf("Service %s targets port %s, which the container does not name", name, p.TargetPort.String())
			}
		}
	}
	if svc := m.services["edge-gantry"]; svc == nil || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != "http" {
		t.Errorf("the gateway's Service = %+v, want only the http port: the admin API has its own", svc)
	}
	if m.pdb != nil {
		if diff := labelDiff(m.pdb.Spec.Selector, sel); diff != "" {
			t.Errorf("PodDisruptionBudget selector: %s", diff)
		}
	}
	return cfg
}

// podEnv is the environment the pod gets from its Secret (envFrom).
func (m *manifests) podEnv(t *testing.T) map[string]string {
	t.Helper()
	c := m.deployment.Spec.Template.Spec.Containers[0]
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		if from.SecretRef == nil {
			continue
		}
		s := m.secrets[from.SecretRef.Name]
		if s == nil {
			t.Fatalf("envFrom names Secret %q, which the chart does not render", from.SecretRef.Name)
		}
		for k, v := range s.Data {
			env[k] = string(v)
		}
	}
	return env
}

func render(t *testing.T, valuesFile string) *manifests {
	t.Helper()
	return renderValues(t, readValues(t, valuesFile))
}

func renderValues(t *testing.T, vals map[string]any) *manifests {
	t.Helper()
	files, err := renderFiles(t, vals)
	if err != nil {
		t.Fatal(err)
	}
	m := &manifests{secrets: map[string]*corev1.Secret{}, services: map[string]*corev1.Service{}}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !strings.HasSuffix(name, ".yaml") {
			continue
		}
		for i, doc := range strings.Split(files[name], "\n---") {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			m.decode(t, fmt.Sprintf("%s#%d", name, i), []byte(doc))
		}
	}
	if m.deployment == nil || m.configMap == nil {
		t.Fatalf("rendered %v: no Deployment or ConfigMap", names)
	}
	return m
}

// decode strictly decodes one manifest into its API type by kind.
func (m *manifests) decode(t *testing.T, where string, doc []byte) {
	t.Helper()
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	strict := func(into any) {
		t.Helper()
		if err := yaml.UnmarshalStrict(doc, into); err != nil {
			t.Fatalf("%s: %s %s does not decode strictly: %v\n%s", where, tm.APIVersion, tm.Kind, err, doc)
		}
	}
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 Deployment":
		m.deployment = &appsv1.Deployment{}
		strict(m.deployment)
	case "v1 ConfigMap":
		m.configMap = &corev1.ConfigMap{}
		strict(m.configMap)
	case "v1 Secret":
		s := &corev1.Secret{}
		strict(s)
		m.secrets[s.Name] = s
	case "v1 Service":
		s := &corev1.Service{}
		strict(s)
		m.services[s.Name] = s
	case "policy/v1 PodDisruptionBudget":
		m.pdb = &policyv1.PodDisruptionBudget{}
		strict(m.pdb)
	case "autoscaling/v2 HorizontalPodAutoscaler":
		m.hpa = &autoscalingv2.HorizontalPodAutoscaler{}
		strict(m.hpa)
	case "monitoring.coreos.com/v1 ServiceMonitor":
		strict(&m.serviceMonitor)
	default:
		t.Fatalf("%s: unexpected %s %s", where, tm.APIVersion, tm.Kind)
	}
}

// renderFiles is `helm template edge deploy/helm/gantry -n gateway`.
func renderFiles(t *testing.T, vals map[string]any) (map[string]string, error) {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	opts := common.ReleaseOptions{Name: "edge", Namespace: "gateway", Revision: 1, IsInstall: true}
	rv, err := util.ToRenderValues(ch, vals, opts, common.DefaultCapabilities)
	if err != nil {
		return nil, err
	}
	return engine.Render(ch, rv)
}

func readValues(t *testing.T, file string) map[string]any {
	t.Helper()
	if file == "" {
		return map[string]any{}
	}
	b, err := os.ReadFile(filepath.FromSlash(file))
	if err != nil {
		t.Fatal(err)
	}
	v, err := common.ReadValues(b)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func hasMount(d *appsv1.Deployment, volume, path string) bool {
	for _, vm := range d.Spec.Template.Spec.Containers[0].VolumeMounts {
		if vm.Name == volume && vm.MountPath == path {
			return true
		}
	}
	return false
}

func labelDiff(s *metav1.LabelSelector, pod map[string]string) string {
	if s == nil || len(s.MatchLabels) == 0 {
		return "empty selector"
	}
	var b bytes.Buffer
	for k, v := range s.MatchLabels {
		if pod[k] != v {
			fmt.Fprintf(&b, "%s=%s not on the pods; ", k, v)
		}
	}
	return b.String()
}

// dig walks nested maps of a structurally decoded manifest.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}
