// A small typed client over the types openapi-typescript generates from
// api/openapi.yaml (schema.d.ts, made by `npm run client`, not committed).
// It compiles only while the spec describes these operations as a
// frontend uses them: make lint runs tsc on it.
import type { components, paths } from "./schema";

type Event = components["schemas"]["Event"];
type EventList = paths["/api/v1/events"]["get"]["responses"]["200"]["content"]["application/json"];
type BookingRequest = paths["/api/v1/bookings"]["post"]["requestBody"]["content"]["application/json"];
type Booking = paths["/api/v1/bookings"]["post"]["responses"]["201"]["content"]["application/json"];
type Ticket = paths["/api/v1/events/{id}/waiting-room"]["post"]["responses"]["200"]["content"]["application/json"];
type Session = paths["/api/v1/auth/login"]["post"]["responses"]["200"]["content"]["application/json"];
type Problem = components["schemas"]["Problem"];

export class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail ?? problem.title);
  }
}

export class Evently {
  constructor(private readonly base: string, private token?: string) {}

  private async call<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const h: Record<string, string> = { Accept: "application/json", ...headers };
    if (this.token) h.Authorization = `Bearer ${this.token}`;
    if (body !== undefined) h["Content-Type"] = "application/json";
    const resp = await fetch(this.base + path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    if (!resp.ok) throw new ApiError((await resp.json()) as Problem);
    return (await resp.json()) as T;
  }

  async login(email: string, password: string): Promise<Session> {
    const s = await this.call<Session>("POST", "/api/v1/auth/login", { email, password });
    this.token = s.access_token;
    return s;
  }

  listEvents(q: paths["/api/v1/events"]["get"]["parameters"]["query"] = {}): Promise<EventList> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(q ?? {})) if (v !== undefined) params.set(k, String(v));
    return this.call<EventList>("GET", `/api/v1/events?${params}`);
  }

  getEvent(id: string): Promise<Event> {
    return this.call<Event>("GET", `/api/v1/events/${encodeURIComponent(id)}`);
  }

  hold(req: BookingRequest, admission?: string): Promise<Booking> {
    return this.call<Booking>("POST", "/api/v1/bookings", req, admission ? { "Evently-Admission": admission } : {});
  }

  confirm(id: string, paymentReference: string): Promise<Booking> {
    return this.call<Booking>("POST", `/api/v1/bookings/${id}/confirm`, { payment_reference: paymentReference });
  }

  joinWaitingRoom(eventId: string): Promise<Ticket> {
    return this.call<Ticket>("POST", `/api/v1/events/${eventId}/waiting-room`);
  }
}

// What a storefront does: find an event, hold two seats, confirm.
export async function buyTwo(api: Evently): Promise<number> {
  const page = await api.listEvents({ q: "hamlet", limit: 1 });
  const e: Event | undefined = page.data[0];
  if (!e) return 0;
  let pass: string | undefined;
  if (e.waiting_room.enabled) {
    const t = await api.joinWaitingRoom(e.id);
    pass = t.pass ?? undefined;
  }
  const b = await api.hold({ event_id: e.id, quantity: 2 }, pass);
  const done = await api.confirm(b.id, "pay_123");
  return done.total_cents;
}
