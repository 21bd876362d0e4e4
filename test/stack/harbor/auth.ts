/**
 * Harbor's security-context chain for Basic credentials (server/middleware/security): the robot generator
 * first (exact stored name, secret, not disabled, not expired), then the user generator through
 * `auth.Login`, which for any failed login locks the name for 1.5 s and sleeps 1.5 s, and while the name is
 * locked fails at once, right password or not. A robot with a wrong secret, disabled or expired falls
 * through to the user generator and so pays the same 1.5 s. Nothing here refuses a request: a failed
 * login just leaves the request anonymous, and each route decides (401 for most, 200 with public
 * projects for a project list).
 */
import type { IncomingMessage } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { hashMatches, type Principal, type World } from './model.ts';
import { basicCredentials } from './wire.ts';

export interface AuthEvent {
  at: string;
  name: string;
  reason: string;
}

export class Authenticator {
  readonly #world: World;
  /** What Harbor's log would say about failed logins (the admin API shows it; never a secret). */
  readonly events: AuthEvent[] = [];

  constructor(world: World) {
    this.#world = world;
  }

  #note(name: string, reason: string): void {
    this.events.push({ at: new Date().toISOString(), name, reason });
    if (this.events.length > 500) this.events.splice(0, 100);
  }

  /** The principal behind a request's Basic credentials; anonymous when there are none or they fail. */
  async basic(req: IncomingMessage): Promise<Principal> {
    const c = basicCredentials(req);
    if (!c) return { kind: 'anonymous' };
    const w = this.#world;
    if (c.name.startsWith(w.robotPrefix)) {
      const robot = w.robotByName(c.name.slice(w.robotPrefix.length));
      if (robot) {
        if (!hashMatches(c.secret, robot.salt, robot.hash))
          this.#note(c.name, 'failed to authenticate robot account');
        else if (robot.disabled) this.#note(c.name, 'failed to authenticate deactivated robot account');
        else if (w.robotExpired(robot)) this.#note(c.name, 'the robot account is expired');
        else return { kind: 'robot', robot };
      }
    }
    const last = w.loginFailures.get(c.name);
    if (last !== undefined && Date.now() - last <= w.penaltyMs) {
      this.#note(c.name, 'is locked due to login failure, login failed');
      return { kind: 'anonymous' };
    }
    const user = w.userByName(c.name);
    if (user && w.userPasswordOk(user, c.secret)) return { kind: 'user', user };
    this.#note(c.name, 'Login failed, locking and sleeping');
    w.loginFailures.set(c.name, Date.now());
    if (w.penaltyMs > 0) await sleep(w.penaltyMs);
    return { kind: 'anonymous' };
  }
}
