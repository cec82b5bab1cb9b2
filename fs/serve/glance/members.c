/*
 * members.c — an image's members in the image API (SPEC §19): the shares
 * of §6.4, one and the same whether made by `mkdir shares/<account>` or
 * here.  The owner adds and removes members; a member answers (pending,
 * accepted, rejected) and only it; each sees the members it may: the
 * owner all of them, a member itself.
 *
 * Who calls it: api.c's routes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "reply.h"

struct members {
	const struct model_image *img;
	json_t *list;
};

static int member_into(void *arg, const struct model_share *s)
{
	struct members *m = arg;
	json_array_append_new(m->list, render_member(m->img, s));
	return 0;
}

int members_list(struct glance_req *r)
{
	const struct model_api_image *a = r->image; /* the dispatcher's */
	struct model_share s;
	int ret;
	struct members m = {&a->img, json_array()};
	if (r->rights & MODEL_RIGHT_SHARE) /* the owner sees every member, a member itself */
		model_share_list(glance_model(r->g), a->img.id, 0, member_into, &m);
	else if (model_share_get(glance_model(r->g), a->img.id, r->caller.id, &s) == 0)
		member_into(&m, &s);
	ret = glance_reply_json(r, 200, json_pack("{s:o,s:s}", "members", m.list, "schema", "/v2/schemas/members"));
	return ret;
}

int members_create(struct glance_req *r)
{
	const struct model_api_image *a = r->image; /* the dispatcher's */
	struct model_err err = {0};
	struct model_share s;
	bool replied;
	int ret, rc;
	json_t *body = NULL;
	if (!(body = glance_body_json(r, &replied))) {
		ret = MHD_YES;
		goto out;
	}
	const char *member = json_string_value(json_object_get(body, "member"));
	if (!member) {
		ret = glance_reply_error(r, 400, "the body names a member: {\"member\": \"<project>\"}");
		goto out;
	}
	/* Glance's rule, on the model's flag: a private image has no members */
	if (!(a->img.gflags & MODEL_GFLAG_SHARED)) {
		ret = glance_reply_error(r, 403, "Only shared images have members.");
		goto out;
	}
	if ((rc = model_share_add(glance_model(r->g), a->img.id, member, &err)) < 0)
		ret = glance_reply_model(r, rc, &err);
	else if ((rc = model_share_lookup(glance_model(r->g), a->img.id, member, &s)) < 0)
		ret = glance_reply_error(r, 503, "the database did not answer: try again");
	else
		ret = glance_reply_json(r, 200, render_member(&a->img, &s));
out:
	json_decref(body);
	return ret;
}

int members_show(struct glance_req *r)
{
	const struct model_api_image *a = r->image; /* the dispatcher's */
	struct model_share s;
	int ret;
	if (model_share_lookup(glance_model(r->g), a->img.id, r->arg[1], &s) < 0 ||
	    (!(r->rights & MODEL_RIGHT_SHARE) && s.account_id != r->caller.id))
		ret = glance_reply_error(r, 404, "%.64s is not a member of image %s", r->arg[1], a->img.uuid);
	else
		ret = glance_reply_json(r, 200, render_member(&a->img, &s));
	return ret;
}

int members_update(struct glance_req *r)
{
	const struct model_api_image *a = r->image; /* the dispatcher's */
	struct model_err err = {0};
	struct model_share s;
	bool replied;
	int ret, rc;
	json_t *body = NULL;
	if (!(body = glance_body_json(r, &replied))) {
		ret = MHD_YES;
		goto out;
	}
	const char *st = json_string_value(json_object_get(body, "status"));
	enum model_member_status want = MODEL_MEMBER_INVALID;
	for (int k = MODEL_MEMBER_PENDING; k <= MODEL_MEMBER_REJECTED && st; k++)
		if (strcmp(st, model_member_status_name((enum model_member_status)k)) == 0)
			want = (enum model_member_status)k;
	/* the member in the path must be the caller: only it answers (the
	 * owner, who may see its members, is told why; others see none) */
	if (strcmp(r->arg[1], r->caller.name) != 0 || !(r->rights & MODEL_RIGHT_ANSWER)) {
		ret = r->rights & MODEL_RIGHT_SHARE ? glance_reply_error(r, 403, "only the member answers a share")
		                                    : glance_reply_error(r, 404, "%.64s is not a member of image %s",
		                                                         r->arg[1], a->img.uuid);
		goto out;
	}
	if ((rc = model_share_answer(glance_model(r->g), a->img.id, r->caller.id, want, &err)) < 0)
		ret = glance_reply_model(r, rc, &err);
	else if (model_share_get(glance_model(r->g), a->img.id, r->caller.id, &s) < 0)
		ret = glance_reply_error(r, 503, "the database did not answer: try again");
	else
		ret = glance_reply_json(r, 200, render_member(&a->img, &s));
out:
	json_decref(body);
	return ret;
}

int members_delete(struct glance_req *r)
{
	const struct model_api_image *a = r->image; /* the dispatcher's */
	struct model_err err = {0};
	int ret, rc;
	if ((rc = model_share_remove(glance_model(r->g), a->img.id, r->arg[1], &err)) < 0)
		ret = glance_reply_model(r, rc, &err);
	else
		ret = glance_reply_empty(r, 204);
	return ret;
}
