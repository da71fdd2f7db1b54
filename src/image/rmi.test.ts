import { deepStrictEqual as eq, throws } from "node:assert/strict";
import { PolisError } from "../core/errors.ts";
import { planRemoval, type RemovalInput } from "./rmi.ts";

const ID = "sha256:" + "1234567890ab".padEnd(64, "0");
const A = "docker.io/library/a:1";
const B = "docker.io/library/b:1";
const D = `docker.io/library/a@sha256:${"d".repeat(64)}`;
const tag = (name: string) => ({ name, kind: "tag" as const });
const CID = "c".repeat(64);

function input(o: Partial<RemovalInput>): RemovalInput {
  return { ref: "x", imageId: ID, names: [], force: false, ...o };
}

Deno.test("planRemoval follows docker rmi", () => {
  const cases: [string, Partial<RemovalInput>, ReturnType<typeof planRemoval>][] = [
    ["a name with others left only untags", { refName: A, names: [tag(A), tag(B)] }, {
      untag: [A],
      deleteImage: false,
    }],
    ["...even when a container uses the image", {
      refName: A,
      names: [tag(A), tag(B)],
      usedBy: CID,
    }, { untag: [A], deleteImage: false }],
    ["the last name deletes", { refName: A, names: [tag(A)] }, { untag: [A], deleteImage: true }],
    ["the last name, used, forced: untag only", {
      refName: A,
      names: [tag(A)],
      usedBy: CID,
      force: true,
    }, { untag: [A], deleteImage: false }],
    ["an id with one name deletes", { names: [tag(A)] }, { untag: [A], deleteImage: true }],
    ["an id with a tag and a digest deletes", {
      names: [tag(A), { name: D, kind: "digest" }],
    }, { untag: [A, D], deleteImage: true }],
    ["an untagged id deletes", {}, { untag: [], deleteImage: true }],
    ["an id with several tags, forced, deletes all", {
      names: [tag(A), tag(B)],
      force: true,
    }, { untag: [A, B], deleteImage: true }],
    ["a used id, forced: untag everything, keep the image", {
      names: [tag(A), tag(B)],
      usedBy: CID,
      force: true,
    }, { untag: [A, B], deleteImage: false }],
  ];
  for (const [name, o, want] of cases) eq(planRemoval(input(o)), want, name);
});

Deno.test("planRemoval refuses what docker refuses without force, naming why", () => {
  const conflict = (msg: string) => (e: unknown) =>
    e instanceof PolisError && e.code === "conflict" && e.message === msg;
  throws(
    () => planRemoval(input({ ref: "a:1", refName: A, names: [tag(A)], usedBy: CID })),
    conflict(
      'unable to remove repository reference "a:1" (must force) - container cccccccccccc is using its referenced image 1234567890ab',
    ),
  );
  throws(
    () => planRemoval(input({ names: [tag(A)], usedBy: CID })),
    conflict(
      "unable to delete 1234567890ab (must be forced) - image is being used by container cccccccccccc",
    ),
  );
  throws(
    () => planRemoval(input({ names: [tag(A), tag(B)] })),
    conflict(
      "unable to delete 1234567890ab (must be forced) - image is referenced in multiple repositories",
    ),
  );
});
