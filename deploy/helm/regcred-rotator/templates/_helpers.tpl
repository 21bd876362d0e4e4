{{/* The chart's name: nameOverride, else the chart's own; the app.kubernetes.io/name label. */}}
{{- define "regcred-rotator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The objects' name: fullnameOverride; else the release name, or release-name when it does not contain the name. */}}
{{- define "regcred-rotator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "regcred-rotator.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Selectors: name and instance, so that two releases in one namespace never select each other's pods. */}}
{{- define "regcred-rotator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "regcred-rotator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "regcred-rotator.labels" -}}
{{ include "regcred-rotator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* A pod's labels: the selector labels, the workload identity opt-in, commonLabels, podLabels. */}}
{{- define "regcred-rotator.podLabels" -}}
{{ include "regcred-rotator.selectorLabels" . }}
{{- if .Values.azure.workloadIdentity.clientId }}
azure.workload.identity/use: 'true'
{{- end }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- with .Values.podLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "regcred-rotator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "regcred-rotator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "values: serviceAccount.name is required when serviceAccount.create is false (the rotator never runs as 'default')" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* A digest pins the image and wins over the tag. */}}
{{- define "regcred-rotator.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/* The rules of deploy/cluster/rbac.yaml; scheduler mode adds "watch" where it watches. */}}
{{- define "regcred-rotator.rules" -}}
{{- $watch := eq .Values.mode "scheduler" -}}
{{- if eq .Values.scope "cluster" }}
- apiGroups: ['']
  resources: [namespaces]
  verbs: [get, list{{ if $watch }}, watch{{ end }}]
{{- end }}
- apiGroups: ['']
  resources: [secrets]
  verbs: [list, get, create, patch, delete{{ if $watch }}, watch{{ end }}]
- apiGroups: ['']
  resources: [serviceaccounts]
  verbs: [list, get, patch{{ if $watch }}, watch{{ end }}]
- apiGroups: ['']
  resources: [pods]
  {{- /* The healer (the config's rotation.healPods): delete, and watch in scheduler mode. */}}
  {{- $heal := dig "rotation" "healPods" false (include "regcred-rotator.config" . | fromYaml) }}
  verbs: [list{{ if $heal }}, delete{{ if $watch }}, watch{{ end }}{{ end }}]
- apiGroups: ['']
  resources: [events]
  verbs: [create]
{{- end -}}

{{/* Where trustedCA's certificate is mounted; NODE_EXTRA_CA_CERTS points at it. */}}
{{- define "regcred-rotator.trustedCAPath" -}}
/etc/regcred-rotator-ca/{{ .Values.trustedCA.key }}
{{- end -}}

{{/* The rotator's pod settings, shared by the CronJob, the Deployment and the test pod. */}}
{{- define "regcred-rotator.podSpec" -}}
serviceAccountName: {{ include "regcred-rotator.serviceAccountName" . }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
securityContext: {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.topologySpreadConstraints }}
topologySpreadConstraints: {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: config
    configMap:
      name: {{ include "regcred-rotator.fullname" . }}-config
{{- if or .Values.trustedCA.configMap .Values.trustedCA.secret }}
  - name: trusted-ca
    {{- if and .Values.trustedCA.configMap .Values.trustedCA.secret }}
    {{- fail "values: trustedCA takes a configMap or a secret, not both" }}
    {{- else if .Values.trustedCA.configMap }}
    configMap:
      name: {{ .Values.trustedCA.configMap }}
      items: [{ key: {{ .Values.trustedCA.key | quote }}, path: {{ .Values.trustedCA.key | quote }} }]
    {{- else }}
    secret:
      secretName: {{ .Values.trustedCA.secret }}
      items: [{ key: {{ .Values.trustedCA.key | quote }}, path: {{ .Values.trustedCA.key | quote }} }]
    {{- end }}
{{- end }}
{{- if include "regcred-rotator.certManager" . }}
  - name: webhook-tls
    secret:
      secretName: {{ include "regcred-rotator.fullname" . }}-webhook-tls
{{- end }}
{{- with .Values.volumes }}
{{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "regcred-rotator.container" -}}
name: regcred-rotator
image: {{ include "regcred-rotator.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
env:
  - name: POD_NAMESPACE
    valueFrom:
      fieldRef:
        fieldPath: metadata.namespace
{{- if or .Values.trustedCA.configMap .Values.trustedCA.secret }}
  # Node reads it once at start and trusts it beside its built-in roots: stores, registries, Pushgateway.
  - name: NODE_EXTRA_CA_CERTS
    value: {{ include "regcred-rotator.trustedCAPath" . }}
{{- end }}
{{- with .Values.fleet.clusterId }}
  # This cluster's id in fleet ledgers; every cluster of a fleet shares the config, each has its own id.
  - name: REGCRED_ROTATOR_CLUSTER_ID
    value: {{ . | quote }}
{{- end }}
{{- with .Values.env }}
{{- toYaml . | nindent 2 }}
{{- end }}
resources: {{- toYaml (ternary .Values.schedulerResources .Values.resources (eq .Values.mode "scheduler")) | nindent 2 }}
securityContext: {{- toYaml .Values.securityContext | nindent 2 }}
volumeMounts:
  - name: config
    mountPath: /etc/regcred-rotator
    readOnly: true
{{- if or .Values.trustedCA.configMap .Values.trustedCA.secret }}
  - name: trusted-ca
    mountPath: /etc/regcred-rotator-ca
    readOnly: true
{{- end }}
{{- if include "regcred-rotator.certManager" . }}
  - name: webhook-tls
    mountPath: /etc/regcred-rotator-webhook
    readOnly: true
{{- end }}
{{- with .Values.volumeMounts }}
{{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The config.yaml text; a map here would have been deep-merged with the chart's example. */}}
{{- define "regcred-rotator.config" -}}
{{- if not (kindIs "string" .Values.config) -}}
{{- fail "values: config must be the text of config.yaml (config: |), not a map: Helm would merge a map with the chart's example config" -}}
{{- end -}}
{{- required "values: config (the text of config.yaml) is empty" .Values.config | trim -}}
{{- end -}}

{{/*
The config's schedule, the one source of truth: the CronJob's schedule and timeZone are read from it, as
scheduler mode reads them itself. Printed as JSON ({"schedule":…,"timeZone":…}) for fromJson.
*/}}
{{- define "regcred-rotator.schedule" -}}
{{- $cfg := include "regcred-rotator.config" . | fromYaml -}}
{{- if hasKey $cfg "Error" -}}
{{- fail (printf "values: config is not valid YAML: %s" (get $cfg "Error")) -}}
{{- end -}}
{{- dict "schedule" (get $cfg "schedule" | default "0 3 * * *") "timeZone" (get $cfg "timeZone" | default "Etc/UTC") | toJson -}}
{{- end -}}

{{/* The scheduler's admission flags (deploy/components/admission adds the same). */}}
{{- define "regcred-rotator.admissionArgs" -}}
{{- $name := include "regcred-rotator.fullname" . -}}
{{- with .Values.admission.webhook -}}
{{- if .enabled -}}
, '--webhook={{ .port }}', '--webhook-hosts={{ $name }}-webhook.$(POD_NAMESPACE).svc'
{{- if ne $name "regcred-rotator" }}, '--webhook-configuration={{ $name }}', '--webhook-tls-secret={{ $name }}-webhook-tls'{{ end }}
{{- if .certManager.enabled }}, '--webhook-cert-dir=/etc/regcred-rotator-webhook'{{ end }}
{{- end -}}
{{- end -}}
{{- if .Values.admission.policy.enabled -}}
, '--admission-policy={{ $name }}-inject'
{{- end -}}
{{- end -}}

{{/* "true" when the rotator writes the webhook's certificate Secret itself (no cert-manager). */}}
{{- define "regcred-rotator.webhookOwnCert" -}}
{{- if and (eq .Values.mode "scheduler") .Values.admission.webhook.enabled (not .Values.admission.webhook.certManager.enabled) -}}
true
{{- end -}}
{{- end -}}

{{/* "true" when the webhook serves a cert-manager Certificate (scheduler mode only). */}}
{{- define "regcred-rotator.certManager" -}}
{{- if and (eq .Values.mode "scheduler") .Values.admission.webhook.enabled .Values.admission.webhook.certManager.enabled -}}
true
{{- end -}}
{{- end -}}
