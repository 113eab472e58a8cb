// Which proxy a request uses: Go's httpproxy rules, table-driven (no network).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseProxyUrl, proxyFromEnvironment, redactUrl } from './proxy.ts';

const PROXY = 'http://proxy.example:3128';

test('proxyFromEnvironment follows golang.org/x/net/http/httpproxy', () => {
  const cases: { server: string; env: NodeJS.ProcessEnv; proxied: boolean; name: string }[] = [
    { name: 'no proxy set', server: 'https://k8s.example:6443', env: {}, proxied: false },
    { name: 'HTTPS_PROXY', server: 'https://k8s.example:6443', env: { HTTPS_PROXY: PROXY }, proxied: true },
    { name: 'https_proxy (lower case)', server: 'https://k8s.example:6443', env: { https_proxy: PROXY }, proxied: true },
    { name: 'HTTP_PROXY does not apply to https', server: 'https://k8s.example:6443', env: { HTTP_PROXY: PROXY }, proxied: false },
    { name: 'HTTP_PROXY applies to http', server: 'http://k8s.example:8080', env: { HTTP_PROXY: PROXY }, proxied: true },
    { name: 'localhost goes direct', server: 'https://localhost:6443', env: { HTTPS_PROXY: PROXY }, proxied: false },
    { name: '127.x goes direct', server: 'https://127.0.0.2:6443', env: { HTTPS_PROXY: PROXY }, proxied: false },
    { name: '::1 goes direct', server: 'https://[::1]:6443', env: { HTTPS_PROXY: PROXY }, proxied: false },
    { name: 'NO_PROXY exact host', server: 'https://k8s.example:6443', env: { HTTPS_PROXY: PROXY, NO_PROXY: 'k8s.example' }, proxied: false },
    { name: 'NO_PROXY domain matches subdomains', server: 'https://api.k8s.example:6443', env: { HTTPS_PROXY: PROXY, NO_PROXY: 'k8s.example' }, proxied: false },
    { name: 'NO_PROXY .domain does not match the domain itself', server: 'https://k8s.example:6443', env: { HTTPS_PROXY: PROXY, NO_PROXY: '.k8s.example' }, proxied: true },
    { name: 'NO_PROXY *.domain', server: 'https://a.k8s.example:6443', env: { HTTPS_PROXY: PROXY, NO_PROXY: '*.k8s.example' }, proxied: false },
    { name: 'NO_PROXY does not match a longer name', server: 'https://notk8s.example:6443', env: { HTTPS_PROXY: PROXY, NO_PROXY: 'k8s.example' }, proxied: true },
    { name: 'NO_PROXY with the right port', server: 'https://k8s.example:6443', env: { HTTPS_PROXY: PROXY, NO_PROXY: 'k8s.example:6443' }, proxied: false },
    { name: 'NO_PROXY with another port', server: 'https://k8s.example:6443', env: { HTTPS_PROXY: PROXY, NO_PROXY: 'k8s.example:443' }, proxied: true },
    { name: 'NO_PROXY default port', server: 'https://k8s.example', env: { HTTPS_PROXY: PROXY, NO_PROXY: 'k8s.example:443' }, proxied: false },
    { name: 'NO_PROXY IP', server: 'https://10.0.0.1:6443', env: { HTTPS_PROXY: PROXY, NO_PROXY: '10.0.0.1' }, proxied: false },
    { name: 'NO_PROXY CIDR', server: 'https://10.96.0.1:443', env: { HTTPS_PROXY: PROXY, NO_PROXY: 'example.com, 10.96.0.0/12' }, proxied: false },
    { name: 'NO_PROXY CIDR miss', server: 'https://10.112.0.1:443', env: { HTTPS_PROXY: PROXY, NO_PROXY: '10.96.0.0/12' }, proxied: true },
    { name: 'NO_PROXY IPv6', server: 'https://[fd00::1]:6443', env: { HTTPS_PROXY: PROXY, NO_PROXY: 'fd00:0:0::1' }, proxied: false },
    { name: 'NO_PROXY IPv6 CIDR', server: 'https://[fd00::1]:6443', env: { HTTPS_PROXY: PROXY, NO_PROXY: 'fd00::/8' }, proxied: false },
    { name: 'NO_PROXY domain does not match IPs', server: 'https://10.0.0.1:6443', env: { HTTPS_PROXY: PROXY, NO_PROXY: '0.0.1' }, proxied: true },
    { name: 'NO_PROXY *', server: 'https://k8s.example:6443', env: { HTTPS_PROXY: PROXY, NO_PROXY: '*' }, proxied: false },
    { name: 'no_proxy (lower case), case-insensitive', server: 'https://K8S.example:6443', env: { HTTPS_PROXY: PROXY, no_proxy: 'k8s.EXAMPLE' }, proxied: false },
  ];
  for (const c of cases) assert.equal(proxyFromEnvironment(new URL(c.server), c.env) !== undefined, c.proxied, c.name);
});

test('proxy URLs without a scheme are http, and messages never show credentials', () => {
  assert.equal(parseProxyUrl('proxy.example:3128')?.href, 'http://proxy.example:3128/');
  assert.equal(parseProxyUrl(''), undefined);
  assert.equal(redactUrl(new URL('http://user:secret@proxy.example:3128')), 'http://proxy.example:3128');
});
