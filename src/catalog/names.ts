/** Kubernetes' naming rules, with the messages kubectl users know. */

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const IANA_SVC_NAME = /^(?=.*[a-z])[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

/** A namespace or pod-like name: lowercase letters, digits and '-', at most 63 characters. */
export function dns1123LabelError(value: string): string | undefined {
  if (value.length > 63) return 'must be no more than 63 characters';
  if (!DNS1123_LABEL.test(value)) {
    return "must consist of lowercase alphanumeric characters or '-', and start and end with an alphanumeric character";
  }
  return undefined;
}

/** A DNS-1123 subdomain, as a fully qualified name: dot-separated labels, at most 253 characters. */
export function dns1123SubdomainError(value: string): string | undefined {
  if (value.length > 253) return 'must be no more than 253 characters';
  if (!DNS1123_SUBDOMAIN.test(value)) {
    return "must consist of lowercase alphanumeric characters, '-' or '.', and start and end with an alphanumeric character";
  }
  return undefined;
}

/** A Service name: as a DNS-1123 label, but starting with a letter. */
export function dns1035LabelError(value: string): string | undefined {
  if (value.length > 63) return 'must be no more than 63 characters';
  if (!DNS1035_LABEL.test(value)) {
    return "must consist of lowercase alphanumeric characters or '-', start with a letter, and end with an alphanumeric character";
  }
  return undefined;
}

/** A port name (IANA_SVC_NAME): at most 15 characters, at least one letter. */
export function portNameError(value: string): string | undefined {
  if (value.length > 15) return 'must be no more than 15 characters';
  if (!IANA_SVC_NAME.test(value)) {
    return "must contain only lowercase alphanumeric characters or '-', with at least one letter";
  }
  if (value.includes('--')) return "must not contain consecutive '-'";
  return undefined;
}

/** A label key (`[prefix/]name`) or label value, as Kubernetes validates them. */
export function labelKeyError(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix))) {
    return `label key "${key}" has an invalid prefix (must be a DNS subdomain)`;
  }
  if (name === '' || name.length > 63 || !LABEL_NAME.test(name)) {
    return `label key "${key}" is invalid (at most 63 alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric)`;
  }
  return undefined;
}

export function labelValueError(value: string): string | undefined {
  if (value.length > 63 || !LABEL_NAME.test(value)) {
    return `label value "${value}" is invalid (at most 63 alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric)`;
  }
  return undefined;
}
