/*
 * rights.h — who may do what to an image (SPEC §3, §6.4, §8, §19.4): one
 * question of the model, asked by every face.  The tree (fs/fuse) asks it
 * for a blob's reader, the image API (fs/serve/glance) once per route in
 * its dispatcher, a download link when it is made.  The answer is a set of
 * rights, drawn from one table of the image's folder × the caller's
 * relation to it (model/meta/rights.c):
 *
 *                    anyone    owner          member:           the owner's
 *                                             pending  accepted  rejected   administrator
 *   public/          S R B     S R B          S R B    S R B     S R B      S R B
 *   marketplace/     S   B     S   B          S   B    S   B     S   B      S   B
 *   private/         -         S R B C H      S   B A  S   B A   S     A    S R
 *   iso/             -         S R B C        -        -         -          S R
 *   recycle-bin/     -         S R   C        -        -         -          -
 *
 *   S see (listed, shown, found by id)   R read its disks' bytes (a read of
 *   disks/<dev>, a download, a link)   B build an instance from it
 *   C change it (attributes, tags, data, delete, restore)   H share it
 *   (add, remove and list its members)   A answer the caller's own share
 *
 * So "a marketplace or shared image's blob only makes instances" (§3) is
 * the R missing from two rows, written once.  Relations add up: a caller
 * who is both a member and the owner's administrator has both rows'
 * rights.  One more rule is the model's, not the table's: a deactivated
 * image's data (§19.5) is read by administrators only.
 *
 * The owner's administrator is an administrator account, for the images of
 * accounts that are not administrators, and a main account, for its
 * sub-accounts' (§8 "Administrators and sub-accounts").
 */
#ifndef IMGFS_MODEL_RIGHTS_H
#define IMGFS_MODEL_RIGHTS_H

#include "core.h"

struct model_account;
struct model_image;

enum model_rel {
	MODEL_REL_ANYONE = 0,
	MODEL_REL_OWNER,
	MODEL_REL_PENDING,  /* a member that has not answered */
	MODEL_REL_ACCEPTED, /* a member that accepted the share */
	MODEL_REL_REJECTED, /* a member that rejected it */
	MODEL_REL_ADMIN,    /* the owner's administrator or main account */
	MODEL_REL_COUNT,
};

enum model_right {
	MODEL_RIGHT_SEE = 1u << 0,
	MODEL_RIGHT_READ = 1u << 1,
	MODEL_RIGHT_BUILD = 1u << 2,
	MODEL_RIGHT_CHANGE = 1u << 3,
	MODEL_RIGHT_SHARE = 1u << 4,
	MODEL_RIGHT_ANSWER = 1u << 5,
};

/* The table: the rights one relation gives in one folder (0 for a folder
 * or relation out of range). */
unsigned model_rights_of(enum model_folder folder, enum model_rel rel);

/* The caller's rights over img: every relation that holds, added up, and
 * the deactivated rule.  A NULL caller is nobody (no token): no rights.
 * -EIO when the database did not answer (a share or an account not read:
 * could not tell, never "no rights"). */
int model_image_rights(model *m, const struct model_account *caller, const struct model_image *img, unsigned *out);

/* The rights one known relation holds over img, for a face that knows the
 * relation without a query (the tree, whose view is the relation; a
 * download link, which is its owner's, handed on to a bearer who is no
 * administrator): the table's cell for folder (img's own, or the folder a
 * view stands for) and the deactivated rule, as model_image_rights applies
 * it.  caller_admin: the caller is an administrator account. */
unsigned model_rights_as(const struct model_image *img, enum model_folder folder, enum model_rel rel,
                         bool caller_admin);

/* Whether rights hold right: 0; -ENOENT when they do not hold SEE (the
 * image does not exist for the caller); else -EACCES with the reason (the
 * model's sentence for the right that is missing). */
int model_rights_may(const struct model_image *img, unsigned rights, unsigned right, struct model_err *err);

#endif
