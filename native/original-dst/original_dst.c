// originalDst(fd): the destination a connection was addressed to before iptables
// redirected it (SO_ORIGINAL_DST, IPv4; IP6T_SO_ORIGINAL_DST, IPv6), as
// { address, port, family }, or null when the connection was not redirected.
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter_ipv4.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static napi_value original_dst(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) {
    napi_throw_type_error(env, NULL, "originalDst(fd): a file descriptor is required");
    return NULL;
  }
  int32_t fd;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "originalDst(fd): fd must be a non-negative integer");
    return NULL;
  }

  struct sockaddr_storage local;
  socklen_t len = sizeof local;
  if (getsockname(fd, (struct sockaddr *)&local, &len) != 0) return throw_errno(env, "getsockname", errno);

  struct sockaddr_storage dst;
  memset(&dst, 0, sizeof dst);
  len = sizeof dst;
  int rc = local.ss_family == AF_INET6
               ? getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &dst, &len)
               : getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &dst, &len);
  napi_value result;
  if (rc != 0) {
    // ENOENT: conntrack has no NAT entry, the connection came straight to this socket.
    if (errno == ENOENT) {
      napi_get_null(env, &result);
      return result;
    }
    return throw_errno(env, "getsockopt(SO_ORIGINAL_DST)", errno);
  }

  char text[INET6_ADDRSTRLEN];
  int port;
  const char *family;
  if (dst.ss_family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&dst;
    inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
    port = ntohs(a->sin6_port);
    family = "IPv6";
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&dst;
    inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
    port = ntohs(a->sin_port);
    family = "IPv4";
  }
  napi_value address, port_value, family_value;
  napi_create_object(env, &result);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &address);
  napi_create_int32(env, port, &port_value);
  napi_create_string_utf8(env, family, NAPI_AUTO_LENGTH, &family_value);
  napi_set_named_property(env, result, "address", address);
  napi_set_named_property(env, result, "port", port_value);
  napi_set_named_property(env, result, "family", family_value);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "originalDst", NAPI_AUTO_LENGTH, original_dst, NULL, &fn);
  napi_set_named_property(env, exports, "originalDst", fn);
  return exports;
}
