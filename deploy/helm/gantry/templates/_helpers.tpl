{{/* The chart's name, and the release's full name (at most 63 characters). */}}
{{- define "gantry.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gantry.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "gantry.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gantry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "gantry.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "gantry.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The Secret the pods read their environment from. */}}
{{- define "gantry.secretName" -}}
{{- default (include "gantry.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/* terminationGracePeriodSeconds: above drain_delay + shutdown_grace. */}}
{{- define "gantry.terminationGrace" -}}
{{- $g := .Values.gateway }}
{{- $min := add $g.shutdownGraceSeconds $g.drainDelaySeconds }}
{{- if kindIs "invalid" $g.terminationGracePeriodSeconds }}
{{- add $min 10 }}
{{- else if le (int $g.terminationGracePeriodSeconds) (int $min) }}
{{- fail (printf "gateway.terminationGracePeriodSeconds (%v) must be above shutdownGraceSeconds + drainDelaySeconds (%v), or the kubelet kills requests still draining" $g.terminationGracePeriodSeconds $min) }}
{{- else }}
{{- $g.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/*
gantry.yaml: .Values.config with the keys the chart owns set from its
values. ${NAME} is left for the gateway to replace from the environment.
*/}}
{{- define "gantry.config" -}}
{{- $c := deepCopy (default (dict) .Values.config) }}
{{- $g := .Values.gateway }}
{{- $server := dict "listen" (printf "0.0.0.0:%v" $g.port) "shutdown_grace" (printf "%vs" $g.shutdownGraceSeconds) "drain_delay" (printf "%vs" $g.drainDelaySeconds) }}
{{- $_ := set $c "server" (merge $server (default (dict) $c.server)) }}
{{- $admin := dict "listen" (printf "0.0.0.0:%v" $g.adminPort) "token" "${GANTRY_ADMIN_TOKEN}" }}
{{- $_ := set $c "admin" (merge $admin (default (dict) $c.admin)) }}
{{- if eq .Values.storage.driver "postgres" }}
{{- $_ := set $c "storage" (dict "driver" "postgres" "dsn" "${GANTRY_STORAGE_DSN}") }}
{{- else if eq .Values.storage.driver "sqlite" }}
{{- $_ := set $c "storage" (dict "driver" "sqlite" "dsn" .Values.storage.sqlitePath) }}
{{- else }}
{{- fail (printf "storage.driver %q: want sqlite or postgres" .Values.storage.driver) }}
{{- end }}
{{- $k := .Values.counters }}
{{- if eq $k.driver "redis" }}
{{- $_ := set $c "counters" (dict "driver" "redis" "redis_url" "${GANTRY_REDIS_URL}" "sync" $k.sync "on_failure" $k.onFailure "key_prefix" $k.keyPrefix) }}
{{- else if eq $k.driver "memory" }}
{{- $_ := set $c "counters" (dict "driver" "memory") }}
{{- else }}
{{- fail (printf "counters.driver %q: want memory or redis" $k.driver) }}
{{- end }}
{{- $_ := set $c "version" 1 }}
{{- toYaml $c }}
{{- end }}
