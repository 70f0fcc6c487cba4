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
src/controller/mod.rs by the chart tests.
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
# Publish Events on the resources (and update a repeating Event's series).
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/*
What the operator does with Secrets, only in namespaces that grant it: those it watches when
watchNamespaces is set, else those that bind the verification-codes ClusterRole. Kept equal to
SECRET_PERMISSIONS in src/controller/mod.rs by the chart tests.
*/}}
{{- define "cso.secretRules" -}}
# Watch Secret metadata in namespaces whose resources verify sandbox numbers, so a newly entered
# verification code is acted on at once; read a Secret's data only when a number waits for it.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch"]
{{- end }}

{{- define "cso.secretReaderRole" -}}
{{- printf "%s-verification-codes" (include "cso.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The Secret holding the key of the phone-number identifiers in status. */}}
{{- define "cso.numberIdKeySecret" -}}
{{- .Values.numberIdKey.secretName | default (printf "%s-number-id-key" (include "cso.fullname" .)) }}
{{- end }}
