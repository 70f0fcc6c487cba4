{{- define "cso.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "cso.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "cso.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "cso.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "cso.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cso.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "cso.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "cso.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "cso.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cso.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
What the operator does in the namespaces it watches. Kept equal to KUBE_PERMISSIONS in
src/controller.rs by the chart tests.
*/}}
{{- define "cso.watchRules" -}}
# Watch CognitoSmsConfig resources and add or remove the cognitosms.io/cleanup finalizer.
- apiGroups: ["cognitosms.io"]
  resources: ["cognitosmsconfigs"]
  verbs: ["get", "list", "watch", "patch"]
# Write status, by server-side apply.
- apiGroups: ["cognitosms.io"]
  resources: ["cognitosmsconfigs/status"]
  verbs: ["patch"]
# Clusters enforcing OwnerReferencesPermissionEnforcement require this to change finalizers.
- apiGroups: ["cognitosms.io"]
  resources: ["cognitosmsconfigs/finalizers"]
  verbs: ["update"]
# Watch Secret metadata so a newly entered verification code is acted on at once; read a
# Secret's data only when a sandbox number waits for its code.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch"]
# Publish Events on the resources (and update a repeating Event's series).
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}
