/*
 * rights.c — who may do what to an image (SPEC §3, §6.4, §8, §19.4):
 * rights.h draws the table; this file holds it and computes a caller's
 * relations to an image.
 *
 * Who calls it: the image API's dispatcher, once a route (fs/serve/glance/
 * api.c), the API's imports that read another image (tasks.c), the tree's
 * blob reader (fs/fuse/node.c, by its view: no query), a download link when
 * it is made (download.c) and each time it is served (fs/serve/serve.c),
 * and the unit test that enumerates the table
 * (tests/unit/model/meta/test_rights.c).  At most
 * two point queries a call (the caller's share of the image, the owner's
 * account), each only when it can change the answer.
 */
#include <errno.h>

#include "model_int.h"

#define S MODEL_RIGHT_SEE
#define R MODEL_RIGHT_READ
#define B MODEL_RIGHT_BUILD
#define C MODEL_RIGHT_CHANGE
#define H MODEL_RIGHT_SHARE
#define A MODEL_RIGHT_ANSWER

/* folder × relation -> rights (rights.h's drawing, row for row). */
static const unsigned rights_table[MODEL_FOLDER_RECYCLE + 1][MODEL_REL_COUNT] = {
	/*                          anyone     owner              pending    accepted   rejected  admin */
	[MODEL_FOLDER_PUBLIC] = {S | R | B, S | R | B, S | R | B, S | R | B, S | R | B, S | R | B},
	[MODEL_FOLDER_MARKETPLACE] = {S | B, S | B, S | B, S | B, S | B, S | B},
	[MODEL_FOLDER_PRIVATE] = {0, S | R | B | C | H, S | B | A, S | B | A, S | A, S | R},
	[MODEL_FOLDER_ISO] = {0, S | R | B | C, 0, 0, 0, S | R},
	[MODEL_FOLDER_RECYCLE] = {0, S | R | C, 0, 0, 0, 0},
};

#undef S
#undef R
#undef B
#undef C
#undef H
#undef A

unsigned model_rights_of(enum model_folder folder, enum model_rel rel)
{
	if ((int)folder < 0 || folder > MODEL_FOLDER_RECYCLE || (int)rel < 0 || rel >= MODEL_REL_COUNT)
		return 0;
	return rights_table[folder][rel];
}

/* The one rule beside the table: a deactivated image's data is read by
 * administrators only (§19.5). */
static unsigned deactivated_rule(unsigned rights, const struct model_image *img, bool caller_admin)
{
	if ((img->gflags & MODEL_GFLAG_DEACTIVATED) && !caller_admin)
		rights &= ~(unsigned)MODEL_RIGHT_READ;
	return rights;
}

unsigned model_rights_as(const struct model_image *img, enum model_folder folder, enum model_rel rel,
                         bool caller_admin)
{
	return deactivated_rule(model_rights_of(folder, rel), img, caller_admin);
}

/* Whether caller is the administrator of owner_id's images: an
 * administrator of a non-administrator's, a main account of its
 * sub-account's.  -EIO: the owner's row was not read. */
static int admin_of(model *m, const struct model_account *caller, int64_t owner_id, bool *out)
{
	struct model_account owner;
	int rc;

	*out = false;
	if (!(caller->admin || caller->has_subs) || owner_id == caller->id)
		return 0;
	if ((rc = model_account_get(m, owner_id, &owner)) == -ENOENT)
		return 0;
	if (rc < 0)
		return -EIO;
	*out = caller->admin ? !owner.admin : owner.parent_id == caller->id;
	return 0;
}

int model_image_rights(model *m, const struct model_account *caller, const struct model_image *img, unsigned *out)
{
	enum model_folder f = img->folder;
	unsigned rights;
	bool admin;
	int rc;

	*out = 0;
	if (caller == NULL)
		return 0;
	rights = model_rights_of(f, MODEL_REL_ANYONE);
	if (img->account_id == caller->id)
		rights |= model_rights_of(f, MODEL_REL_OWNER);
	else if (f == MODEL_FOLDER_PRIVATE) { /* only private images have members (§6.4) */
		struct model_share s;
		if ((rc = model_share_get(m, img->id, caller->id, &s)) == 0)
			rights |= model_rights_of(f, s.status == MODEL_MEMBER_ACCEPTED   ? MODEL_REL_ACCEPTED
			                             : s.status == MODEL_MEMBER_REJECTED ? MODEL_REL_REJECTED
			                                                                 : MODEL_REL_PENDING);
		else if (rc != -ENOENT)
			return -EIO;
	}
	if ((rc = admin_of(m, caller, img->account_id, &admin)) < 0)
		return rc;
	if (admin)
		rights |= model_rights_of(f, MODEL_REL_ADMIN);
	*out = deactivated_rule(rights, img, caller->admin);
	return 0;
}

int model_rights_may(const struct model_image *img, unsigned rights, unsigned right, struct model_err *err)
{
	if (!(rights & MODEL_RIGHT_SEE))
		return model_fail(err, -ENOENT, "no image %s", img->name);
	if ((rights & right) == right)
		return 0;
	if (right & MODEL_RIGHT_READ) {
		if (img->gflags & MODEL_GFLAG_DEACTIVATED)
			return model_fail(err, -EACCES, "The requested image has been deactivated. Image data download "
			                                "is forbidden.");
		return model_fail(err, -EACCES, "this image's data is not yours to read: build instances from it");
	}
	if (right & MODEL_RIGHT_BUILD)
		return model_fail(err, -EACCES, "this image does not make instances for you");
	if (right & MODEL_RIGHT_SHARE)
		return model_fail(err, -EACCES, "only the image's owner changes its members");
	if (right & MODEL_RIGHT_ANSWER)
		return model_fail(err, -EACCES, "only the member answers a share");
	return model_fail(err, -EACCES, "only the image's owner changes it");
}
