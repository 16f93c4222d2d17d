{{/*
Names and labels shared by every template, and the pieces of pod specs that the API, the worker
and the migration Job have in common.
*/}}

{{- define "renkei.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's base name: "<release>-renkei", or the release name alone when it already says renkei. */}}
{{- define "renkei.fullname" -}}
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

{{- define "renkei.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels of one component: call with (dict "root" $ "component" "api"). */}}
{{- define "renkei.selectorLabels" -}}
app.kubernetes.io/name: {{ include "renkei.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{/* All standard labels: call with (dict "root" $ "component" "api"), or without component for shared objects. */}}
{{- define "renkei.labels" -}}
helm.sh/chart: {{ include "renkei.chart" .root }}
{{ include "renkei.selectorLabels" . }}
app.kubernetes.io/part-of: renkei
app.kubernetes.io/version: {{ .root.Values.image.tag | default .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{- define "renkei.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "renkei.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "renkei.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* An env entry read from an existing Secret: call with (list "NAME" .Values.database.url). */}}
{{- define "renkei.secretEnv" -}}
{{- $name := index . 0 }}
{{- $ref := index . 1 -}}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ required (printf "%s: name the existing Secret that holds it" $name) $ref.secretName | quote }}
      key: {{ required (printf "%s: name the key inside Secret %s" $name $ref.secretName) $ref.key | quote }}
{{- end }}

{{/* Settings every Renkei process reads: logs and OpenTelemetry (only when given). */}}
{{- define "renkei.commonEnv" -}}
{{- $root := index . 0 }}
{{- $component := index . 1 -}}
- name: RUST_LOG
  value: {{ $root.Values.logging.level | quote }}
- name: LOG_FORMAT
  value: {{ $root.Values.logging.format | quote }}
- name: KPI_SUPPRESSION_THRESHOLD
  value: {{ $root.Values.kpi.suppressionThreshold | toString | quote }}
- name: KPI_PROTECTION_PERCENT
  value: {{ $root.Values.kpi.protectionPercent | toString | quote }}
- name: DESIGNATION_LAW_START_FY
  value: {{ $root.Values.kpi.designationLawStartFiscalYear | toString | quote }}
{{- with $root.Values.otel.endpoint }}
{{- if not (regexMatch "^https?://" .) }}
{{- fail "otel.endpoint must be an http(s) URL (OTLP over HTTP)" }}
{{- end }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- with index $root.Values.otel.serviceName $component }}
- name: OTEL_SERVICE_NAME
  value: {{ . | quote }}
{{- end }}
{{- end }}

{{/* The application login and its pool, for the long-running processes (not the migration Job). */}}
{{- define "renkei.databaseEnv" -}}
{{ include "renkei.secretEnv" (list "DATABASE_URL" .Values.database.url) }}
- name: DATABASE_POOL_SIZE
  value: {{ .Values.database.poolSize | quote }}
- name: DATABASE_CONNECT_TIMEOUT_SECONDS
  value: {{ .Values.database.connectTimeoutSeconds | quote }}
{{- end }}

{{/*
The JWT key source: exactly one of a JWKS URL or a PEM public key from an existing Secret or
ConfigMap (the binary refuses both and neither; the chart says so at render time).
*/}}
{{- define "renkei.jwtKeySource" -}}
{{- $pk := .Values.jwt.publicKey }}
{{- if and $pk.secretName $pk.configMapName }}
{{- fail "jwt.publicKey: set secretName or configMapName, not both" }}
{{- end }}
{{- $pem := or $pk.secretName $pk.configMapName }}
{{- if and $pem .Values.jwt.jwksUrl }}
{{- fail "jwt: set jwt.jwksUrl or jwt.publicKey, not both" }}
{{- else if .Values.jwt.jwksUrl }}
{{- if not (regexMatch "^https?://" .Values.jwt.jwksUrl) }}
{{- fail "jwt.jwksUrl must be an http(s) URL" }}
{{- end }}
{{- "jwks" }}
{{- else if $pem }}
{{- "pem" }}
{{- else }}
{{- fail "jwt: set jwt.jwksUrl, or jwt.publicKey.secretName / configMapName" }}
{{- end }}
{{- end }}

{{/* Pod-level settings shared by every pod of the chart. */}}
{{- define "renkei.podCommon" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Pod-level scheduling of a long-running component: call with (dict "root" $ "component" "api" "values" .Values.api). */}}
{{- define "renkei.podScheduling" -}}
{{- with .root.Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.topologySpreadConstraints }}
{{- $selector := dict "matchLabels" (include "renkei.selectorLabels" $ | fromYaml) }}
{{- $constraints := list }}
{{- range . }}
{{- $constraint := deepCopy . }}
{{- /* A constraint without labelSelector spreads this component's pods. */}}
{{- if not $constraint.labelSelector }}
{{- $_ := set $constraint "labelSelector" $selector }}
{{- end }}
{{- $constraints = append $constraints $constraint }}
{{- end }}
topologySpreadConstraints:
  {{- toYaml $constraints | nindent 2 }}
{{- end }}
{{- end }}

{{/* The writable scratch space: the root filesystem is read-only. */}}
{{- define "renkei.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end }}

{{- define "renkei.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- end }}
