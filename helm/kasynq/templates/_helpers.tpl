{{/* The chart's name, or nameOverride. */}}
{{- define "kasynq.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name of the release's objects (fullnameOverride wins), at most 63 characters. */}}
{{- define "kasynq.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "kasynq.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "kasynq.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kasynq.name" . }}-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kasynq.labels" -}}
{{ include "kasynq.selectorLabels" . }}
{{ include "kasynq.commonLabels" . }}
{{- end -}}

{{/* Labels of every object of the release, beside its component's selector labels. */}}
{{- define "kasynq.commonLabels" -}}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The operator image, its tag defaulting to the chart's appVersion (the console runs it too). */}}
{{- define "kasynq.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* The operator's container securityContext, shared by the console's container. */}}
{{- define "kasynq.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{/* The console's objects: name, selector labels, labels, ServiceAccount. */}}
{{- define "kasynq.web.fullname" -}}
{{- printf "%s-web" (include "kasynq.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kasynq.web.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kasynq.name" . }}-web
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kasynq.web.labels" -}}
{{ include "kasynq.web.selectorLabels" . }}
{{ include "kasynq.commonLabels" . }}
{{- end -}}

{{- define "kasynq.web.serviceAccountName" -}}
{{- default (include "kasynq.web.fullname" .) .Values.web.serviceAccount.name -}}
{{- end -}}

{{/*
What `kasynq web --kube` reads, and nothing else: the custom resources (status included), the
pools' Deployments and the Events with the operator's scaling decisions; get/list/watch only.
*/}}
{{- define "kasynq.web.readRules" -}}
- apiGroups: [kasynq.io]
  resources: [asynqworkerpools, asynqqueues]
  verbs: [get, list, watch]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch]
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [get, list, watch]
{{- end -}}

{{/* Values the console cannot run without, refused with the value to set. */}}
{{- define "kasynq.web.validate" -}}
{{- if not .Values.web.redis.existingSecret -}}
{{- fail "web.enabled needs web.redis.existingSecret: the name of a Secret holding the Redis URL" -}}
{{- end -}}
{{- if and (ne .Values.web.auth.mode "trustedHeader") (not .Values.web.auth.existingSecret) -}}
{{- fail (printf "web.auth.mode %s needs web.auth.existingSecret: the Secret holding the %s" .Values.web.auth.mode (ternary "token" "user:password lines" (eq .Values.web.auth.mode "token"))) -}}
{{- end -}}
{{- if and (eq .Values.web.auth.mode "trustedHeader") (not .Values.web.auth.trustedHeader) -}}
{{- fail "web.auth.mode trustedHeader needs web.auth.trustedHeader: the header the auth proxy sets" -}}
{{- end -}}
{{- end -}}

{{- define "kasynq.serviceAccountName" -}}
{{- default (include "kasynq.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/*
What the operator does in a namespace it watches: reconcile its custom resources and their
status, server-side apply the worker Deployment, ConfigMap and Service it owns (create +
patch; owned objects are garbage-collected through ownerReferences, so no delete), read a
queue's Redis Secret (get only), list pods and patch their deletion cost for idle-first
scale-in, and post Events.
*/}}
{{- define "kasynq.namespacedRules" -}}
- apiGroups: [kasynq.io]
  resources: [asynqqueues, asynqworkerpools]
  verbs: [get, list, watch, patch]
- apiGroups: [kasynq.io]
  resources: [asynqqueues/status, asynqworkerpools/status]
  verbs: [get, patch]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch]
- apiGroups: [""]
  resources: [configmaps, services]
  verbs: [get, list, watch, create, patch]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
{{- if .Values.redisTenantUsers.enabled }}
- apiGroups: [""]
  resources: [secrets]
  verbs: [create, patch, delete]
{{- end }}
- apiGroups: [""]
  resources: [pods]
  verbs: [list, patch]
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end -}}


{{/*
Names of the cluster's namespaces as a JSON object {name: true}; {} when Helm cannot look
them up (`helm template`, or no right to list namespaces): then nothing is skipped.
*/}}
{{- define "kasynq.existingNamespaces" -}}
{{- $names := dict -}}
{{- range (lookup "v1" "Namespace" "" "").items | default list -}}
{{- $_ := set $names .metadata.name true -}}
{{- end -}}
{{- toJson $names -}}
{{- end -}}

{{- define "kasynq.webhookServiceName" -}}
{{- printf "%s-webhook" (include "kasynq.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The webhook's serving certificate and its CA as JSON {ca.crt, tls.crt, tls.key}: the ones in
the existing Secret on upgrade (so the running operator's certificate keeps matching the
registered CA bundle), else a new CA and a certificate for the webhook Service's DNS names.
*/}}
{{- define "kasynq.webhookCert" -}}
{{- $secretName := printf "%s-webhook-tls" (include "kasynq.fullname" .) -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace $secretName -}}
{{- if and $existing (hasKey ($existing.data | default dict) "ca.crt") -}}
{{- dict "ca.crt" (index $existing.data "ca.crt" | b64dec) "tls.crt" (index $existing.data "tls.crt" | b64dec) "tls.key" (index $existing.data "tls.key" | b64dec) | toJson -}}
{{- else -}}
{{- $service := include "kasynq.webhookServiceName" . -}}
{{- $dns := list $service (printf "%s.%s" $service .Release.Namespace) (printf "%s.%s.svc" $service .Release.Namespace) (printf "%s.%s.svc.cluster.local" $service .Release.Namespace) -}}
{{- $ca := genCA (printf "%s-webhook-ca" (include "kasynq.fullname" .)) 3650 -}}
{{- $cert := genSignedCert (printf "%s.%s.svc" $service .Release.Namespace) nil $dns 3650 $ca -}}
{{- dict "ca.crt" $ca.Cert "tls.crt" $cert.Cert "tls.key" $cert.Key | toJson -}}
{{- end -}}
{{- end -}}
