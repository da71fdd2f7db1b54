/**
 * Network routes: create, list, inspect and remove bridge networks. Served when the engine
 * has networking (`engine.networks`); otherwise each answers 503.
 * @module
 */

import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { PolisError } from "../../core/mod.ts";
import type { EngineApi, NetworkApi } from "../../engine/types.ts";
import { errors, json } from "./common.ts";
import { FirewallRuleBody } from "../schemas.ts";

const tags = ["networks"];

const IPv4 = z.string().regex(/^(\d{1,3}\.){3}\d{1,3}$/, "expected an IPv4 address");
const IPv6 = z.string().regex(/^[0-9a-fA-F:.]*:[0-9a-fA-F:.]*$/, "expected an IPv6 address");

export const NetworkCreateBody = z.strictObject({
  name: z.string().min(1).openapi({ example: "app" }),
  subnet: z.string().regex(/^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/, "expected an IPv4 CIDR")
    .optional().openapi({ example: "10.232.5.0/24" }),
  gateway: IPv4.optional().openapi({ example: "10.232.5.1" }),
  internal: z.boolean().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  enableIPv6: z.boolean().optional().openapi({
    description: "Dual-stack: an IPv6 subnet too (a free /64 of a ULA pool unless subnet6)",
  }),
  subnet6: z.string().min(1).optional().openapi({ example: "fd12:3456::/64" }),
  gateway6: IPv6.optional().openapi({ example: "fd12:3456::1" }),
}).openapi("NetworkCreateRequest");

export type NetworkCreateRequest = z.input<typeof NetworkCreateBody>;

const NetworkSchema = z.object({
  Name: z.string(),
  Id: z.string(),
  Created: z.string(),
  Scope: z.literal("local"),
  Driver: z.enum(["bridge", "host", "null"]),
  EnableIPv6: z.boolean(),
  IPAM: z.object({
    Driver: z.literal("default"),
    Config: z.array(z.object({ Subnet: z.string(), Gateway: z.string() })),
  }),
  Internal: z.boolean(),
  Containers: z.record(
    z.string(),
    z.object({
      Name: z.string(),
      EndpointID: z.string(),
      MacAddress: z.string(),
      IPv4Address: z.string(),
      IPv6Address: z.string(),
    }),
  ),
  Options: z.record(z.string(), z.string()),
  Labels: z.record(z.string(), z.string()),
}).openapi("Network");

const NetworkParam = z.object({
  id: z.string().min(1).openapi({
    param: { name: "id", in: "path" },
    description: "Network name, id or unique id prefix",
    example: "app",
  }),
});

const create = createRoute({
  method: "post",
  path: "/v1/networks",
  tags,
  summary: "Create a bridge network",
  request: {
    body: { required: true, content: { "application/json": { schema: NetworkCreateBody } } },
  },
  responses: {
    201: json(z.object({ Id: z.string(), Warning: z.string() }), "Created"),
    ...errors(400, 409, 503),
  },
});

const list = createRoute({
  method: "get",
  path: "/v1/networks",
  tags,
  summary: "List networks (bridge, host, none and user-defined ones)",
  responses: { 200: json(z.array(NetworkSchema), "Networks"), ...errors(503) },
});

const inspect = createRoute({
  method: "get",
  path: "/v1/networks/{id}",
  tags,
  summary: "Inspect a network and the containers on it",
  request: { params: NetworkParam },
  responses: { 200: json(NetworkSchema, "The network"), ...errors(404, 503) },
});

const remove = createRoute({
  method: "delete",
  path: "/v1/networks/{id}",
  tags,
  summary: "Remove a network (refused while containers are on it)",
  request: { params: NetworkParam },
  responses: { 204: { description: "Removed" }, ...errors(404, 409, 503) },
});

export const NetworkConnectBody = z.strictObject({
  container: z.string().min(1).openapi({ example: "web" }),
  ip: IPv4.optional().openapi({ description: "A fixed address on the network" }),
  ip6: IPv6.optional().openapi({ description: "A fixed IPv6 address on a dual-stack network" }),
  aliases: z.array(z.string().min(1)).optional().openapi({ description: "Names on its DNS" }),
}).openapi("NetworkConnectRequest");

export const NetworkDisconnectBody = z.strictObject({
  container: z.string().min(1),
  force: z.boolean().optional(),
}).openapi("NetworkDisconnectRequest");

const connect = createRoute({
  method: "post",
  path: "/v1/networks/{id}/connect",
  tags,
  summary: "Connect a container to a network (at once if it runs)",
  request: {
    params: NetworkParam,
    body: { required: true, content: { "application/json": { schema: NetworkConnectBody } } },
  },
  responses: { 204: { description: "Connected" }, ...errors(400, 404, 409, 503) },
});

const disconnect = createRoute({
  method: "post",
  path: "/v1/networks/{id}/disconnect",
  tags,
  summary: "Disconnect a container from a network",
  request: {
    params: NetworkParam,
    body: { required: true, content: { "application/json": { schema: NetworkDisconnectBody } } },
  },
  responses: { 204: { description: "Disconnected" }, ...errors(400, 404, 409, 503) },
});

const prune = createRoute({
  method: "post",
  path: "/v1/networks/prune",
  tags,
  summary: "Remove every user-defined network no container uses",
  responses: {
    200: json(z.object({ NetworksDeleted: z.array(z.string()) }), "Removed networks"),
    ...errors(503),
  },
});

const RuleCreateBody = FirewallRuleBody.extend({
  container: z.string().min(1).optional().openapi({
    description: "Only for this container on the network (name or id)",
  }),
}).openapi("FirewallRuleRequest");

const RuleView = FirewallRuleBody.extend({
  Id: z.string(),
  containerId: z.string().optional(),
}).openapi("FirewallRuleView");

const addRule = createRoute({
  method: "post",
  path: "/v1/networks/{id}/rules",
  tags,
  summary: "Add a firewall rule to a network or one container on it (enforced at once)",
  request: {
    params: NetworkParam,
    body: { required: true, content: { "application/json": { schema: RuleCreateBody } } },
  },
  responses: { 201: json(z.object({ Id: z.string() }), "Added"), ...errors(400, 404, 409, 503) },
});

const listRules = createRoute({
  method: "get",
  path: "/v1/networks/{id}/rules",
  tags,
  summary: "List a network's firewall rules, in evaluation order",
  request: { params: NetworkParam },
  responses: { 200: json(z.array(RuleView), "Rules"), ...errors(404, 503) },
});

const deleteRule = createRoute({
  method: "delete",
  path: "/v1/networks/{id}/rules/{rule}",
  tags,
  summary: "Remove a firewall rule",
  request: {
    params: NetworkParam.extend({
      rule: z.string().min(1).openapi({ param: { name: "rule", in: "path" } }),
    }),
  },
  responses: { 204: { description: "Removed" }, ...errors(404, 503) },
});

export function networkRoutes(app: OpenAPIHono, engine: EngineApi): void {
  const nets = (): NetworkApi => {
    if (!engine.networks) {
      throw new PolisError("unavailable", "this engine has no networking");
    }
    return engine.networks;
  };

  app.openapi(create, async (c) => c.json(await nets().createNetwork(c.req.valid("json")), 201));
  app.openapi(list, (c) => c.json(nets().listNetworks(), 200));
  app.openapi(inspect, (c) => c.json(nets().inspectNetwork(c.req.valid("param").id), 200));
  app.openapi(prune, async (c) => c.json({ NetworksDeleted: await nets().pruneNetworks() }, 200));
  app.openapi(connect, async (c) => {
    const b = c.req.valid("json");
    await nets().connectNetwork(c.req.valid("param").id, b.container, {
      ip: b.ip,
      ip6: b.ip6,
      aliases: b.aliases,
    });
    return c.body(null, 204);
  });
  app.openapi(disconnect, async (c) => {
    const b = c.req.valid("json");
    await nets().disconnectNetwork(c.req.valid("param").id, b.container, b.force ?? false);
    return c.body(null, 204);
  });
  app.openapi(
    addRule,
    (c) => c.json(nets().addFirewallRule(c.req.valid("param").id, c.req.valid("json")), 201),
  );
  app.openapi(listRules, (c) => c.json(nets().listFirewallRules(c.req.valid("param").id), 200));
  app.openapi(deleteRule, (c) => {
    const p = c.req.valid("param");
    nets().deleteFirewallRule(p.id, p.rule);
    return c.body(null, 204);
  });
  app.openapi(remove, async (c) => {
    await nets().removeNetwork(c.req.valid("param").id);
    return c.body(null, 204);
  });
}
