{{/* Names */}}
{{- define "switchboard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "switchboard.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels: include "switchboard.labels" (dict "ctx" $ "component" "sbc") */}}
{{- define "switchboard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "switchboard.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "switchboard.labels" -}}
{{ include "switchboard.selectorLabels" . }}
app.kubernetes.io/part-of: switchboard
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" }}
{{- with .ctx.Values.region }}
switchboard.dev/region: {{ . | quote }}
{{- end }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "switchboard.image" -}}
{{- $img := .Values.image -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $img.repository (default .Chart.AppVersion $img.tag) -}}
{{- end -}}
{{- end -}}

{{- define "switchboard.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ if kindIs "string" . }}{{ . }}{{ else }}{{ .name }}{{ end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The advertised SIP FQDN (carrier-trunk FQDN). */}}
{{- define "switchboard.sipFqdn" -}}
{{- default .ctx.Values.baseDomain .advertise.fqdn -}}
{{- end -}}

{{/* SWITCHBOARD_REDIS_URL (and the Sentinel variables) for any container. */}}
{{- define "switchboard.redisEnv" -}}
{{- $r := .Values.redis -}}
{{- if eq $r.mode "bundled" }}
- name: SWITCHBOARD_REDIS_URL
  value: {{ printf "redis://%s-redis.%s.svc:6379" (include "switchboard.fullname" .) .Release.Namespace | quote }}
{{- else if $r.external.existingSecret }}
- name: SWITCHBOARD_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $r.external.existingSecret }}
      key: {{ $r.external.existingSecretKey }}
{{- else }}
- name: SWITCHBOARD_REDIS_URL
  value: {{ required "redis.external.url or redis.external.existingSecret is required when redis.mode is external" $r.external.url | quote }}
{{- end }}
{{- if and (eq $r.mode "external") $r.external.sentinel.enabled }}
- name: SWITCHBOARD_REDIS_SENTINELS
  value: {{ join "," $r.external.sentinel.hosts | quote }}
- name: SWITCHBOARD_REDIS_SENTINEL_MASTER
  value: {{ $r.external.sentinel.masterName | quote }}
{{- end }}
{{- end -}}

{{- define "switchboard.podSecurityContext" -}}
securityContext:
{{ toYaml .Values.podSecurityContext | indent 2 }}
{{- end -}}

{{- define "switchboard.securityContext" -}}
securityContext:
{{ toYaml .Values.securityContext | indent 2 }}
{{- end -}}

{{- define "switchboard.teamsCaConfigMap" -}}
{{- if .Values.teams.ca.existingConfigMap -}}
{{ .Values.teams.ca.existingConfigMap }}
{{- else if .Values.teams.ca.pem -}}
{{ include "switchboard.fullname" . }}-teams-ca
{{- end -}}
{{- end -}}

{{/* Whether any component runs on the host network (NetworkPolicies then also admit node CIDRs). */}}
{{- define "switchboard.anyHostNetwork" -}}
{{- if or .Values.media.enabled (eq .Values.sbc.mode "DaemonSet") -}}true{{- end -}}
{{- end -}}
