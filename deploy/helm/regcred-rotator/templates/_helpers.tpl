{{/* The objects' name: the release name, or release-chart when the release name does not contain the chart's. */}}
{{- define "regcred-rotator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "regcred-rotator.labels" -}}
app.kubernetes.io/name: regcred-rotator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "regcred-rotator.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
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
  verbs: [list]
- apiGroups: ['']
  resources: [events]
  verbs: [create]
{{- end -}}

{{/* The rotator's container and pod settings, shared by the CronJob and the Deployment. */}}
{{- define "regcred-rotator.podSpec" -}}
serviceAccountName: {{ include "regcred-rotator.fullname" . }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
securityContext:
  runAsNonRoot: true
  runAsUser: 65532
  runAsGroup: 65532
  seccompProfile:
    type: RuntimeDefault
{{- with .Values.nodeSelector }}
nodeSelector: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity: {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: config
    configMap:
      name: {{ include "regcred-rotator.fullname" . }}-config
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
{{- with .Values.env }}
{{- toYaml . | nindent 2 }}
{{- end }}
resources: {{- toYaml (ternary .Values.schedulerResources .Values.resources (eq .Values.mode "scheduler")) | nindent 2 }}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: ['ALL']
volumeMounts:
  - name: config
    mountPath: /etc/regcred-rotator
    readOnly: true
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

{{/* "true" when the webhook serves a cert-manager Certificate (scheduler mode only). */}}
{{- define "regcred-rotator.certManager" -}}
{{- if and (eq .Values.mode "scheduler") .Values.admission.webhook.enabled .Values.admission.webhook.certManager.enabled -}}
true
{{- end -}}
{{- end -}}
